/**
 * Maintenance.Snapshot's export (store/etcd_export.ts) in a child process of this same
 * executable, on a second core: the member's event loop no longer gives the export its
 * turns, so every other client is served at full speed meanwhile, and the export runs
 * without yielding. Measured on 300k keys (103 MB): the member's own CPU per save 1.4-1.6 s
 * -> 0.5 s, the whole save 1.65 -> 1.54 s (the export alone 0.67 s in the child, 0.9-1.0 s
 * in slices on the loop). The child opens the store's file on its own connection inside
 * one read transaction, so it sees one committed state: the last when it started, which is
 * at least what the member flushed before it spawned the child. A large key bucket it
 * writes on two threads (store/key_bucket_export.ts): 1M keys in ~0.75 s instead of ~1.2 s.
 *
 * A damaged row (ChecksumMismatch) comes back as one line of JSON on the child's stdout and
 * is thrown here as the same error, so the caller reports the damage as before.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ChecksumMismatch } from "../store/checksum.ts";
import { isCompiledExecutable } from "../lib/executable.ts";

/** The argument main.ts dispatches on to run `exportChildMain` (never typed by a user). */
export const EXPORT_CHILD_COMMAND = "__export-etcd-backend";

/** Exit code of a child that found a damaged row (and printed it). */
const DAMAGED = 3;
/** How often the child checks that the member that started it is still there. */
const ORPHAN_CHECK_MS = 100;

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
  const compiled = isCompiledExecutable();
  // /proc/self/exe is this very binary even if its file was replaced by an upgrade since.
  const self = compiled && fs.existsSync("/proc/self/exe") ? "/proc/self/exe" : process.execPath;
  return compiled ? [self] : [self, path.join(import.meta.dir, "..", "main.ts")];
}

/**
 * Writes the store at `srcPath` as an etcd backend at `destPath` in a child process;
 * rejects with ChecksumMismatch for a damaged row, or with the child's error.
 */
export async function exportInChild(srcPath: string, destPath: string, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw new Error("snapshot: canceled");
  const child = Bun.spawn([...selfCommand(), EXPORT_CHILD_COMMAND, srcPath, destPath, String(process.pid)], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const kill = () => child.kill("SIGKILL");
  signal.addEventListener("abort", kill, { once: true });
  try {
    const [code, out, err] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    if (signal.aborted) throw new Error("snapshot: canceled");
    if (code === 0) return;
    if (code === DAMAGED) {
      const row = JSON.parse(out.trim().split("\n").pop()!) as DamagedRow;
      throw new ChecksumMismatch({
        key: new Uint8Array(Buffer.from(row.key, "base64")),
        revision: BigInt(row.revision),
        sub: BigInt(row.sub),
      });
    }
    throw new Error(err.trim() || `export exited with ${code ?? child.signalCode}`);
  } finally {
    signal.removeEventListener("abort", kill);
  }
}

/** The child's side: `[srcPath, destPath, the member's PID]`; its exit code. */
export async function exportChildMain(args: readonly string[]): Promise<number> {
  const [srcPath, destPath, parentPid] = args;
  const parent = Number(parentPid);
  if (args.length !== 3 || !Number.isSafeInteger(parent)) {
    process.stderr.write(`${EXPORT_CHILD_COMMAND} expects a source, a destination and the member's PID\n`);
    return 2;
  }
  const { exportEtcdBackend } = await import("../store/etcd_export.ts");
  // A member that dies (kill -9) cannot stop its child: the child stops itself when it is
  // handed to another parent, instead of finishing a file nobody reads.
  const orphaned = new AbortController();
  const check = () => {
    if (process.ppid !== parent) orphaned.abort();
  };
  check();
  const watch = setInterval(check, ORPHAN_CHECK_MS);
  try {
    // Nothing else runs here: slices only long enough for the check above to run.
    // The file is sent and removed: an fsync would only write 100 MB to disk for nothing
    // (bench/snapshot.sh right after etcd's run, 300k keys: saves 1.92 / 1.35 s with it,
    // 1.33 / 1.15 s without).
    await exportEtcdBackend(srcPath, destPath, {
      sliceMs: ORPHAN_CHECK_MS,
      signal: orphaned.signal,
      fsync: false,
      ...partsFromEnv(),
    });
    return 0;
  } catch (e) {
    fs.rmSync(destPath, { force: true });
    if (e instanceof ChecksumMismatch) {
      const row: DamagedRow = {
        key: Buffer.from(e.key).toString("base64"),
        revision: e.revision.toString(),
        sub: e.sub.toString(),
      };
      process.stdout.write(JSON.stringify(row) + "\n");
      return DAMAGED;
    }
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  } finally {
    clearInterval(watch);
  }
}

/**
 * ETCDTS_EXPORT_PART_REVISIONS=n: the key bucket in parts of n main revisions, by two
 * threads from two parts on (store/key_bucket_export.ts; by default parts of 16384 from
 * 131072). For tests, which take that path with small stores, and for tuning.
 */
function partsFromEnv(): { partRevisions?: number; parallelFrom?: number } {
  const n = Number(process.env.ETCDTS_EXPORT_PART_REVISIONS);
  return Number.isSafeInteger(n) && n > 0 ? { partRevisions: n, parallelFrom: 2 * n } : {};
}
