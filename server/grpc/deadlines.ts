/**
 * The deadlines (grpc-timeout) of in-flight calls. Nearly every call carries one (clients
 * send their request timeout), and a timer armed and cleared per call was ~3% of the
 * server's CPU per request; here deadlines falling in the same 20 ms share one timer.
 * A call's deadline may fire up to that much late, which no client can tell from the
 * network delay of its cancellation.
 */

/** Timer granularity: deadlines are rounded up to a multiple of this. */
const GRAIN_MS = 20;
/** Longer timeouts than a timer can hold (~24.8 days) are no deadline at all. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A deadline's expiry callback and the bucket holding it, to cancel it. */
export interface Deadline {
  readonly bucket: Set<() => void>;
  readonly onExpire: () => void;
}

export class Deadlines {
  readonly #buckets = new Map<number, Set<() => void>>();

  /** Calls `onExpire` about `timeoutMs` from now unless cancelled; null for no deadline. */
  add(timeoutMs: number, onExpire: () => void): Deadline | null {
    if (!(timeoutMs <= MAX_TIMEOUT_MS)) return null;
    const now = performance.now();
    const key = Math.ceil((now + timeoutMs) / GRAIN_MS);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      const fresh = new Set<() => void>();
      this.#buckets.set(key, fresh);
      setTimeout(() => this.#fire(key, fresh), Math.max(0, key * GRAIN_MS - now));
      bucket = fresh;
    }
    bucket.add(onExpire);
    return { bucket, onExpire };
  }

  /** Cancels a deadline (the call finished); its bucket's timer still fires, finding less to do. */
  cancel(d: Deadline | null): void {
    d?.bucket.delete(d.onExpire);
  }

  #fire(key: number, bucket: Set<() => void>): void {
    this.#buckets.delete(key);
    for (const onExpire of bucket) onExpire();
  }
}
