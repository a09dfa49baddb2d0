/**
 * Turns for work done in steps (a big range read a statement at a time, a big response
 * encoded a piece at a time, reads spaced out after a heavy one): one step per event-loop
 * iteration, in the order they asked. Each used to wait with a setImmediate of its own,
 * and every callback set before an iteration's check phase runs in it back to back, with
 * no I/O polled in between: three 100 MB range-alls chained their steps into 35-100 ms
 * stretches in which no other client was read. Through here an iteration runs one step,
 * then the loop polls I/O (an immediate set inside the check phase runs in the next one).
 */
export class Turns {
  readonly #waiting: (() => void)[] = [];
  #scheduled = false;

  /** Resolves in a later event-loop iteration, after every step that asked before. */
  next(): Promise<void> {
    return new Promise((resolve) => this.after(resolve));
  }

  /** Runs `step` in a later event-loop iteration, after every step that asked before. */
  after(step: () => void): void {
    this.#waiting.push(step);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    const step = this.#waiting.shift();
    if (this.#waiting.length > 0) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
    step?.();
  };
}

/** The process's one event loop, shared by every stepped piece of work. */
export const steppedWork = new Turns();

/**
 * A `between` for work that runs in stretches: null (go on) until `ms` have passed since
 * the last turn, then the wait for the next one (steppedWork's).
 */
export function yieldEvery(ms: number): () => Promise<void> | null {
  let since = performance.now();
  return () => {
    if (performance.now() - since < ms) return null;
    return steppedWork.next().then(() => {
      since = performance.now();
    });
  };
}
