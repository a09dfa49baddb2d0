/**
 * Runs the CLI directly (`bun cmd/dev.ts get foo`), without main.ts's server dispatch.
 * Also the entry point for measuring the CLI's compiled startup cost on its own.
 */
import { lazyStdin } from "./io.ts";
import { runCli } from "./main.ts";

const stdin = lazyStdin();
try {
  process.exitCode = await runCli(process.argv.slice(2), {
    env: process.env,
    stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
} finally {
  stdin.release();
}
