/**
 * `lock <name> [command args...]` (etcdctl's lock_command.go) over the Lock service: a
 * session lease kept alive while the lock is held; prints the lock key (or runs the
 * command with ETCD_LOCK_KEY/ETCD_LOCK_REV and releases after it); SIGINT or SIGTERM
 * releases and exits 0, a lost session fails.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode, fail } from "./errors.ts";
import { relayCommand } from "./exec.ts";
import { show } from "./print/printer.ts";
import { type RpcEnv, runRpc } from "./rpc.ts";
import { newSession } from "./session.ts";
import { interrupted } from "./signals.ts";

async function lockRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length === 0) {
    fail(ExitCode.BadArgs, "lock takes a lock name argument and an optional command to execute");
  }
  const ttl = Number(ctx.flags.values.get("ttl") as bigint);
  return await runRpc(ctx, async (env) => {
    const signal = interrupted();
    const session = await newSession(env.client, ttl);
    try {
      return await holdLock(ctx, env, {
        name: args[0],
        cmd: args.slice(1),
        lease: session.lease,
        signal,
        session,
      });
    } finally {
      session.stop();
    }
  });
}

async function holdLock(
  ctx: RunContext,
  env: RpcEnv,
  o: { name: string; cmd: string[]; lease: bigint; signal: AbortSignal; session: { done: Promise<void> } },
): Promise<void> {
  const { Lock } = await import("../proto/gen/v3lockpb/v3lock_pb.ts");
  const lock = env.client.service(Lock);
  const locked = await lock.lock({ name: new TextEncoder().encode(o.name), lease: o.lease }, {
    signal: o.signal,
  });
  const unlock = () => lock.unlock({ key: locked.key }, env.callOpts);
  if (o.cmd.length > 0) {
    const exit = await relayCommand(ctx, o.cmd, {
      ETCD_LOCK_KEY: new TextDecoder().decode(locked.key),
      ETCD_LOCK_REV: String(locked.header?.revision ?? 0n),
    }, "inherit");
    if (exit === null) {
      throw new CliError(ExitCode.Error, `exec: "${o.cmd[0]}": executable file not found in $PATH`);
    }
    await unlock();
    if (exit.code !== 0) throw new CliError(ExitCode.Error, `exit status ${exit.code}`);
    return;
  }
  const got = await (await env.stubs()).kv.range({ key: locked.key }, { ...env.callOpts, signal: o.signal });
  if (got.kvs.length === 0) throw new CliError(ExitCode.Error, "lock lost on init");
  show(env.printer, "get", env.out, got, { valueOnly: false });
  const how = await Promise.race([
    new Promise<"signal">((r) => o.signal.addEventListener("abort", () => r("signal"), { once: true })),
    o.session.done.then(() => "expired" as const),
  ]);
  if (how === "expired") throw new CliError(ExitCode.Error, "session expired");
  await unlock();
}

export const lockCommand: Command = {
  use: "lock <lockname> [exec-command arg1 arg2 ...]",
  short: "Acquires a named lock",
  flags: [{ name: "ttl", kind: "int64", def: 10n, usage: "timeout for session" }],
  run: lockRun,
};
