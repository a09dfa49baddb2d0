/**
 * The process streams and environment a CLI run uses, passed in (never taken from globals)
 * so tests can run the CLI in-process and main.ts decides what the real process provides.
 */
import { writeSync } from "node:fs";

/** Something bytes can be written to (process.stdout, a test buffer). */
export interface Sink {
  write(chunk: string | Uint8Array): unknown;
}

/** The CLI's view of its process. */
export interface CliIo {
  env: Record<string, string | undefined>;
  /** Read lazily: only `put` without a value and `txn` consume it. */
  stdin: AsyncIterable<Uint8Array | string>;
  stdout: Sink;
  stderr: Sink;
}

const dec = new TextDecoder();

/** All of stdin as bytes. */
export async function readAll(stdin: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stdin) parts.push(typeof c === "string" ? new TextEncoder().encode(c) : c);
  return Buffer.concat(parts);
}

/**
 * Reads stdin line by line on demand, so an interactive `txn -i` can prompt between
 * sections. `next()` returns a line without its "\n", or undefined at EOF (like Go's
 * ReadString error) — a last line without "\n" is also reported as EOF, as Go does.
 */
export class LineReader {
  readonly #it: AsyncIterator<Uint8Array | string>;
  #buf = "";
  #eof = false;

  constructor(stdin: AsyncIterable<Uint8Array | string>) {
    this.#it = stdin[Symbol.asyncIterator]();
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      if (this.#eof) return undefined;
      const r = await this.#it.next();
      if (r.done) this.#eof = true;
      else this.#buf += typeof r.value === "string" ? r.value : dec.decode(r.value, { stream: true });
    }
  }
}

/** The process's stdin as the CLI reads it, and a way to let go of it. */
export interface ProcessStdin extends AsyncIterable<Uint8Array | string> {
  /**
   * Stops reading, so the process can exit when the command is done: a terminal never
   * ends its input, and an open read would keep the process waiting (a Go program exits
   * when main returns, whatever still reads stdin).
   */
  release(): void;
}

/**
 * process.stdin, touched only when read: merely accessing it costs ~5 ms of startup in
 * the compiled binary, and most commands never read it.
 */
export function lazyStdin(): ProcessStdin {
  let touched = false;
  return {
    [Symbol.asyncIterator]: () => {
      touched = true;
      return (process.stdin as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
    },
    release: () => {
      if (touched) process.stdin.destroy();
    },
  };
}

/**
 * A synchronous writer to file descriptor 1 or 2, for main.ts. Why not process.stdout:
 * touching it costs ~8 ms of startup in the compiled binary (it builds a node stream),
 * more than a whole put needs otherwise. Writes are complete and in order, like a Go
 * program's unbuffered os.Stdout; a closed pipe (EPIPE) silently drops the rest.
 */
export function fdSink(fd: 1 | 2): Sink {
  let broken = false;
  return {
    write(chunk: string | Uint8Array): boolean {
      let buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      while (!broken && buf.length > 0) {
        try {
          buf = buf.subarray(writeSync(fd, buf));
        } catch (e) {
          const code = (e as { code?: string }).code;
          if (code === "EPIPE") broken = true;
          else if (code !== "EAGAIN") throw e;
          else Bun.sleepSync(1); // a non-blocking pipe that is full: wait for the reader
        }
      }
      return true;
    },
  };
}
