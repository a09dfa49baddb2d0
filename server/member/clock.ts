/**
 * Time as the member's parts see it: the current time and timers, injected so that a test
 * (or the Raft simulator's step counter) can drive them without real waiting.
 */

/** A running timer; cancel() stops it (again is harmless). */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotone-enough scale (Date.now() for the real one). */
  now(): number;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Timer;
  /** Calls `fn` once after `ms`. */
  after(ms: number, fn: () => void): Timer;
  /** Calls `fn` once, after the I/O already waiting (setImmediate). */
  soon(fn: () => void): void;
}

/** The process's clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  soon(fn) {
    setImmediate(fn);
  },
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.after(ms, resolve));
}
