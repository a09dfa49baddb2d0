/**
 * Runs a CLI under a pseudo-terminal (tests/cli/pty_run.py, python3's pty module): stdin
 * is a terminal that never reaches EOF, which a pipe cannot show.
 */
import { run } from "../harness.ts";

const script = new URL("./pty_run.py", import.meta.url).pathname;

/** What the terminal showed (CRLF turned into LF) and the exit code; null if it never exited. */
export interface PtyResult {
  output: string;
  code: number | null;
}

/** Runs `argv` at a terminal, types `input`, and waits up to `timeoutMs` for it to exit. */
export async function runInPty(
  argv: readonly string[],
  input: string,
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<PtyResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const r = await run(["python3", script, JSON.stringify(argv), input, String(timeoutMs / 1000)], {
    env: opts.env,
    timeoutMs: timeoutMs + 5000,
  });
  if (r.code !== 0) throw new Error(`pty_run.py failed (${r.code}): ${r.stderr}`);
  const { output, code } = JSON.parse(r.stdout) as PtyResult;
  return { output: output.replaceAll("\r\n", "\n"), code };
}
