/**
 * A member's HashKV over the peer port, where etcd serves it (/members/hashkv): the
 * corruption checks run before clients are served (and between members), so they cannot
 * use the client API. Bodies are protobuf HashKVRequest/HashKVResponse; a revision the
 * member cannot hash answers 400 with etcd's message, so the asker can log why.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { isEtcdError } from "../../api/errors.ts";
import { HashKVRequestSchema, HashKVResponseSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { MvccStore } from "../../store/mvcc.ts";
import { type HeaderSource, responseHeader } from "../header.ts";
import type { PeerTransport } from "../peer.ts";
import type { PeerHash } from "./verdict.ts";

export const HASHKV_PATH = "/members/hashkv";

/** Serves this member's HashKV to its peers. */
export function serveHashKV(transport: PeerTransport, src: { store: MvccStore; member: HeaderSource }): void {
  transport.route(HASHKV_PATH, async (body) => {
    let revision: bigint;
    try {
      revision = fromBinary(HashKVRequestSchema, body).revision;
    } catch {
      return new Response("malformed HashKV request", { status: 400 });
    }
    await src.store.compactionDeleted(); // rather than HashKV deleting them at once
    const r = src.store.hashKV(revision);
    if (isEtcdError(r)) return new Response(r.message, { status: 400 });
    const resp = create(HashKVResponseSchema, {
      header: responseHeader(src.member, r.currentRevision),
      hash: r.hash,
      compactRevision: r.compactRevision,
      hashRevision: r.hashRevision,
    });
    return new Response(toBinary(HashKVResponseSchema, resp));
  });
}

/** A peer's answer, or why there is none. */
export type PeerAnswer = { readonly ok: true; readonly hash: PeerHash } | {
  readonly ok: false;
  readonly id: bigint;
  readonly error: string;
};

/** Asks each of `peers` for its HashKV at `revision`, all at once. */
export function askPeers(
  transport: PeerTransport,
  peers: readonly bigint[],
  revision: bigint,
  timeoutMs: number,
): Promise<PeerAnswer[]> {
  const body = toBinary(HashKVRequestSchema, create(HashKVRequestSchema, { revision }));
  return Promise.all(peers.map(async (id): Promise<PeerAnswer> => {
    const res = await transport.post(id, HASHKV_PATH, body, AbortSignal.timeout(timeoutMs));
    if (res === null) return { ok: false, id, error: "no peer URL answered" };
    let bytes: Uint8Array;
    let r;
    try {
      bytes = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200) return { ok: false, id, error: new TextDecoder().decode(bytes) };
      r = fromBinary(HashKVResponseSchema, bytes);
    } catch (e) {
      return { ok: false, id, error: (e as Error).message };
    }
    return {
      ok: true,
      hash: {
        id,
        hash: r.hash,
        compactRevision: r.compactRevision,
        revision: r.header?.revision ?? 0n,
      },
    };
  }));
}
