/**
 * Member and cluster IDs derived exactly as etcd derives them, so the same
 * configuration yields the same IDs (clients and operators see them in every header).
 */
import { createHash } from "node:crypto";

function first8BigEndian(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/** sha1(sorted peer URLs joined, cluster token[, unix seconds]) → first 8 bytes, big-endian. */
export function memberId(
  peerUrls: readonly string[],
  opts: { clusterToken: string; nowUnix?: number },
): bigint {
  const h = createHash("sha1");
  for (const u of [...peerUrls].sort()) h.update(u);
  h.update(opts.clusterToken);
  if (opts.nowUnix !== undefined) h.update(String(opts.nowUnix));
  return first8BigEndian(h.digest());
}

/** sha1 of the members' IDs in ascending order, each 8 bytes big-endian → first 8 bytes. */
export function clusterId(memberIds: readonly bigint[]): bigint {
  const ids = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * ids.length);
  ids.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return first8BigEndian(createHash("sha1").update(buf).digest());
}

/** etcd prints IDs as lowercase hex without padding. */
export function idHex(id: bigint): string {
  return id.toString(16);
}
