/**
 * A clock that moves only when the test says so (as the Raft simulator's step counter
 * does): timers fire inside advance(), in due order, and nothing waits for real time.
 */
import type { Clock, Timer } from "../../../server/member/clock.ts";

interface Pending {
  at: number;
  readonly every: number | null;
  readonly fn: () => void;
  cancelled: boolean;
  readonly seq: number;
}

export class ManualClock implements Clock {
  #now: number;
  #timers: Pending[] = [];
  #soon: (() => void)[] = [];
  #seq = 0;

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  every(ms: number, fn: () => void): Timer {
    return this.#add(ms, ms, fn);
  }

  after(ms: number, fn: () => void): Timer {
    return this.#add(ms, null, fn);
  }

  soon(fn: () => void): void {
    this.#soon.push(fn);
  }

  /** Timers not cancelled (a stopped part must leave none). */
  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Runs what was asked to run soon, until nothing is left. */
  flush(): void {
    while (this.#soon.length > 0) this.#soon.shift()!();
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.flush();
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#now = due.at;
      if (due.every === null) due.cancelled = true;
      else due.at += due.every;
      due.fn();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => !t.cancelled);
  }

  #add(ms: number, every: number | null, fn: () => void): Timer {
    const t: Pending = { at: this.#now + ms, every, fn, cancelled: false, seq: this.#seq++ };
    this.#timers.push(t);
    return { cancel: () => (t.cancelled = true) };
  }
}
