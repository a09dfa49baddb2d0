/**
 * The server's running parts, stopped in the reverse of the order they started, in one
 * place: a start that fails halfway and a clean stop run the same teardown, so no path can
 * skip a part (the lessor, the idle collector) or stop one before what depends on it.
 */
import { log } from "./log.ts";

interface Part {
  readonly name: string;
  readonly stop: () => void | Promise<void>;
}

export class Lifecycle {
  readonly #parts: Part[] = [];
  readonly #stopping = new AbortController();
  #stopped: Promise<void> | null = null;

  /**
   * Aborted first when stopping begins, before any part stops: loops and streams that end
   * themselves (watch streams, periodic checks, publishing) let go of what the parts close.
   */
  get stopping(): AbortSignal {
    return this.#stopping.signal;
  }

  /**
   * Registers a part, started or made ready to start (its stop must be safe either way);
   * returns it.
   */
  add<T>(name: string, part: T, stop: (part: T) => void | Promise<void>): T {
    if (this.#stopped !== null) throw new Error(`${name} started after the server began to stop`);
    this.#parts.push({ name, stop: () => stop(part) });
    return part;
  }

  /** Stops every part, newest first; a part that fails to stop is logged and the rest still stop. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stopAll();
    return this.#stopped;
  }

  async #stopAll(): Promise<void> {
    this.#stopping.abort();
    for (const part of this.#parts.reverse()) {
      try {
        await part.stop();
      } catch (e) {
        log.warn(`stopping ${part.name} failed`, { error: (e as Error).message });
      }
    }
  }
}
