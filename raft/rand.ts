/**
 * A small seeded PRNG (mulberry32 over a 32-bit state). Raft owns one per node so that
 * randomized election timeouts are reproducible from the seed; nothing here is meant to be
 * cryptographic.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Mixes a 64-bit node ID into a 32-bit seed so that nodes sharing a seed still differ. */
export function mixSeed(seed: number, id: bigint): number {
  let h = seed >>> 0;
  let x = id;
  while (x > 0n) {
    h = Math.imul(h ^ Number(x & 0xffffffffn), 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    x >>= 32n;
  }
  return h;
}
