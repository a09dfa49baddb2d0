/**
 * A single-consumer async queue: a push-based source read with `for await`.
 *
 * Unbounded unless given a `highWater`: then `full` says when the producer should stop
 * and `room()` resolves once the consumer has taken enough to go on. The queue itself
 * never refuses an item; stopping is the producer's job (a gRPC call stops reading its
 * stream, the gateway stops reading its body), so that a consumer that does not keep up
 * pushes back on whoever sends instead of the queue growing without limit.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #ended = false;
  #waiter: ((r: IteratorResult<T>) => void) | null = null;
  readonly #highWater: number;
  #roomWaiters: (() => void)[] = [];

  constructor(opts: { readonly highWater?: number } = {}) {
    this.#highWater = opts.highWater ?? Infinity;
  }

  /** Items pushed and not yet taken. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** At or over the high-water mark: the producer should wait for `room()`. */
  get full(): boolean {
    return this.size >= this.#highWater;
  }

  /** Resolves once the queue is below half its high-water mark, or ended. */
  room(): Promise<void> {
    if (this.#ended || this.size < this.#highWater / 2) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  push(item: T): void {
    if (this.#ended) return;
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w({ value: item, done: false });
      return;
    }
    this.#items.push(item);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    // Items already pushed are still read; nothing more can be pushed, so nobody waits.
    this.#wakeProducers();
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++];
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      }
      if (this.#roomWaiters.length > 0 && this.size < this.#highWater / 2) this.#wakeProducers();
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  #wakeProducers(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const w of waiters) w();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
