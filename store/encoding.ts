/**
 * etcd's bbolt revision keys, as it hashes and stores them (the KeyValues under them are
 * encoded by wire/etcd.ts).
 */

/**
 * etcd's revision key: 8-byte big-endian main revision, '_', 8-byte big-endian sub
 * revision, and a trailing 't' for a tombstone.
 */
export function revisionKey(main: bigint, sub: bigint, tombstone: boolean): Uint8Array {
  const out = new Uint8Array(tombstone ? 18 : 17);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt.asUintN(64, main));
  out[8] = 0x5f; // '_'
  view.setBigUint64(9, BigInt.asUintN(64, sub));
  if (tombstone) out[17] = 0x74; // 't'
  return out;
}
