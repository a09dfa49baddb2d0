/**
 * etcd's bbolt revision keys, as it hashes and stores them (the KeyValues under them are
 * encoded by wire/etcd.ts).
 */

/**
 * etcd's revision key: 8-byte big-endian main revision, '_', 8-byte big-endian sub
 * revision, and a trailing 't' for a tombstone.
 */
export function revisionKey(main: bigint, sub: bigint, tombstone: boolean): Uint8Array {
  const out = new Uint8Array(revisionKeySize(tombstone));
  writeRevisionKey(out, 0, main, sub, tombstone);
  return out;
}

/** The length of a revision key. */
export function revisionKeySize(tombstone: boolean): number {
  return tombstone ? 18 : 17;
}

/** Writes `revisionKey(main, sub, tombstone)` into `out` at `at`. */
export function writeRevisionKey(
  out: Uint8Array,
  at: number,
  main: bigint,
  sub: bigint,
  tombstone: boolean,
): void {
  setUint64BE(out, at, main);
  out[at + 8] = 0x5f; // '_'
  setUint64BE(out, at + 9, sub);
  if (tombstone) out[at + 17] = 0x74; // 't'
}

const TWO_32 = 0x1_0000_0000;

/**
 * Writes `v` as 8 big-endian bytes (two's complement). Numbers below 2^53, which every
 * revision is, go byte by byte: a DataView over a fresh array makes JSC materialize its
 * ArrayBuffer, once per key of a snapshot.
 */
function setUint64BE(out: Uint8Array, at: number, v: bigint): void {
  const n = Number(v);
  if (n < 0 || n > Number.MAX_SAFE_INTEGER) {
    new DataView(out.buffer, out.byteOffset).setBigUint64(at, BigInt.asUintN(64, v));
    return;
  }
  const hi = Math.floor(n / TWO_32);
  const lo = n >>> 0;
  out[at] = hi >>> 24;
  out[at + 1] = hi >>> 16;
  out[at + 2] = hi >>> 8;
  out[at + 3] = hi;
  out[at + 4] = lo >>> 24;
  out[at + 5] = lo >>> 16;
  out[at + 6] = lo >>> 8;
  out[at + 7] = lo;
}
