/**
 * Running a user's command for `lock` and `watch` (their `-- cmd args` forms): our
 * environment plus the command's variables, its output relayed through our own streams so it
 * keeps its place among ours.
 */
import type { RunContext } from "./command.ts";

/** How the command ended; null when it could not be started (not found). */
export type Exit = { code: number; signalCode: string | null } | null;

export async function relayCommand(
  ctx: RunContext,
  argv: string[],
  extra: Record<string, string>,
  stdin: "inherit" | "ignore",
): Promise<Exit> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.io.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, extra);
  let proc;
  try {
    proc = Bun.spawn(argv, { env, stdin, stdout: "pipe", stderr: "pipe" });
  } catch {
    return null;
  }
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).bytes(),
    new Response(proc.stderr).bytes(),
    proc.exited,
  ]);
  if (out.length > 0) ctx.io.stdout.write(out);
  if (err.length > 0) ctx.io.stderr.write(err);
  return { code, signalCode: proc.signalCode === null ? null : String(proc.signalCode) };
}
