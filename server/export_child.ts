/**
 * Maintenance.Snapshot's export (store/etcd_export.ts) in a child process of this same
 * executable, on a second core: the member's event loop no longer gives the export its
 * turns, so every other client is served at full speed meanwhile, and the export runs
 * without yielding. Measured on 300k keys (103 MB): the member's own CPU per save 1.4-1.6 s
 * -> 0.5 s, the whole save 1.65 -> 1.54 s (the export alone 0.67 s in the child, 0.9-1.0 s
 * in slices on the loop). The child opens the store's file on its own connection inside
 * one read transaction, as the in-process export did, so it sees the last committed state.
 *
 * The child streams the file through a pipe as it makes it (the metas first, see
 * streamEtcdBackend), so the member sends a snapshot while it is being made. A damaged row
 * (ChecksumMismatch) comes back as JSON on the child's stderr and is thrown here as the
 * same error, so the caller reports the damage as before.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ChecksumMismatch } from "../store/checksum.ts";

/** The argument main.ts dispatches on to run `exportChildMain` (never typed by a user). */
export const EXPORT_CHILD_COMMAND = "__export-etcd-backend";

/** Exit code of a child that found a damaged row (and printed it). */
const DAMAGED = 3;

interface DamagedRow {
  readonly key: string; // base64
  readonly revision: string;
  readonly sub: string;
}

/**
 * The command line that runs this executable's export child: the compiled binary itself,
 * or under `bun main.ts` the same script (this module's sibling, not Bun.main, which is a
 * test file when a test starts a server in process).
 */
function selfCommand(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, path.join(import.meta.dir, "..", "main.ts")];
}

/**
 * The export of the store at `srcPath`, read as the child writes it to `destPath`: its
 * size first, then its bytes in file order (store/etcd_export.ts streamEtcdBackend). The
 * child says on its stdout how far it has written; the file in between lets it run ahead of
 * a slow client instead of waiting on a pipe's 64 KiB (measured: through a pipe, the save
 * of 300k keys took longer than with no overlap at all).
 */
export class ChildExport {
  readonly #child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  readonly #destPath: string;
  readonly #lines: { read(): Promise<{ done: true } | { done: false; value: Uint8Array }> };
  readonly #signal: AbortSignal;
  readonly #kill = () => this.#child.kill("SIGKILL");
  readonly #decoder = new TextDecoder();
  #text = "";
  /** The file's size, once the child said it. */
  #size = -1;
  /** How far the child has written. */
  #written = 0;
  /** How far this side has read. */
  #read = 0;
  #fd = -1;

  constructor(srcPath: string, destPath: string, signal: AbortSignal) {
    this.#signal = signal;
    this.#destPath = destPath;
    this.#child = Bun.spawn([...selfCommand(), EXPORT_CHILD_COMMAND, srcPath, destPath], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.#lines = this.#child.stdout.getReader();
    signal.addEventListener("abort", this.#kill, { once: true });
    if (signal.aborted) this.#kill();
  }

  /** The size of the file to come. */
  async size(): Promise<number> {
    while (this.#size < 0) await this.#progress();
    return this.#size;
  }

  /** Fills `into` with the next bytes; rejects with the child's error if they never come. */
  async read(into: Uint8Array): Promise<void> {
    if (this.#signal.aborted) throw new Error("snapshot: canceled");
    while (this.#written < this.#read + into.length) await this.#progress();
    if (this.#fd < 0) this.#fd = fs.openSync(this.#destPath, "r");
    const got = fs.readSync(this.#fd, into, 0, into.length, this.#read);
    if (got !== into.length) throw new Error(`snapshot file ended at ${this.#read + got} bytes`);
    this.#read += got;
  }

  /** Resolves once the child exited having written everything; rejects with its error otherwise. */
  async done(): Promise<void> {
    const code = await this.#child.exited;
    if (code !== 0) await this.#failure();
    this.#close();
  }

  /** Stops the child (a client gone, an error) and closes the file; the caller removes it. */
  stop(): void {
    this.#kill();
    this.#close();
  }

  #close(): void {
    this.#signal.removeEventListener("abort", this.#kill);
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Waits for the child's next word on how far it has written (the first is the size). */
  async #progress(): Promise<void> {
    for (;;) {
      const nl = this.#text.indexOf("\n");
      if (nl >= 0) {
        const n = Number(this.#text.slice(0, nl));
        this.#text = this.#text.slice(nl + 1);
        if (this.#size < 0) this.#size = n;
        else this.#written = n;
        return;
      }
      const r = await this.#lines.read();
      if (r.done) return await this.#failure();
      this.#text += this.#decoder.decode(r.value, { stream: true });
    }
  }

  /** Throws why the child stopped writing: canceled, a damaged row, or its error. */
  async #failure(): Promise<never> {
    const code = await this.#child.exited;
    this.#close();
    if (this.#signal.aborted) throw new Error("snapshot: canceled");
    const err = (await new Response(this.#child.stderr).text()).trim();
    if (code === DAMAGED) {
      const row = JSON.parse(err) as DamagedRow;
      throw new ChecksumMismatch({
        key: new Uint8Array(Buffer.from(row.key, "base64")),
        revision: BigInt(row.revision),
        sub: BigInt(row.sub),
      });
    }
    throw new Error(err || `the export ended early (exit ${code ?? this.#child.signalCode})`);
  }
}

/**
 * The child's side: `[srcPath, destPath]`; writes the export to `destPath` and, on stdout,
 * its size and then how far it has written, a line each; its exit code.
 */
export async function exportChildMain(args: readonly string[]): Promise<number> {
  if (args.length !== 2) {
    process.stderr.write(`${EXPORT_CHILD_COMMAND} expects the store's path and a destination\n`);
    return 2;
  }
  const { streamEtcdBackend } = await import("../store/etcd_export.ts");
  const fd = fs.openSync(args[1], "w", 0o600);
  let written = 0;
  try {
    // Nothing else runs here: no slices, no turns to give.
    await streamEtcdBackend(args[0], {
      size: (bytes) => say(bytes),
      write: (bytes) => {
        fs.writeSync(fd, bytes);
        say(written += bytes.length);
      },
    }, { sliceMs: Infinity });
    return 0;
  } catch (e) {
    if (e instanceof ChecksumMismatch) {
      const row: DamagedRow = {
        key: Buffer.from(e.key).toString("base64"),
        revision: e.revision.toString(),
        sub: e.sub.toString(),
      };
      process.stderr.write(JSON.stringify(row));
      return DAMAGED;
    }
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  } finally {
    fs.closeSync(fd);
  }
}

/** One line on stdout, which the server reads as it comes (a few a megabyte). */
function say(n: number): void {
  const line = new TextEncoder().encode(`${n}\n`);
  for (let at = 0; at < line.length;) {
    try {
      at += fs.writeSync(1, line, at, line.length - at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      Atomics.wait(PAUSE, 0, 0, 1);
    }
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));
