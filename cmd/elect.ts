/**
 * `elect <name> <proposal>` and `elect -l <name>` (etcdctl's elect_command.go) over the
 * Election service: campaign under a session lease, print the leader key once elected,
 * resign on SIGINT/SIGTERM; or observe and print every leader value.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode, fail } from "./errors.ts";
import { show } from "./print/printer.ts";
import { type RpcEnv, runRpc } from "./rpc.ts";
import { DEFAULT_SESSION_TTL, newSession } from "./session.ts";
import { interrupted } from "./signals.ts";

async function electRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1 && args.length !== 2) {
    fail(ExitCode.BadArgs, "elect takes one election name argument and an optional proposal argument");
  }
  const listen = ctx.flags.values.get("listen") as boolean;
  if (args.length === 1 && !listen) fail(ExitCode.BadArgs, "no proposal argument but -l not set");
  if (args.length === 2 && listen) fail(ExitCode.BadArgs, "proposal given but -l is set");
  return await runRpc(
    ctx,
    (env) => (args.length === 1 ? observe(env, args[0]) : campaign(env, args[0], args[1])),
  );
}

async function election(env: RpcEnv) {
  const { Election } = await import("../proto/gen/v3electionpb/v3election_pb.ts");
  return env.client.service(Election);
}

async function observe(env: RpcEnv, name: string): Promise<void> {
  const signal = interrupted();
  const stream = (await election(env)).observe({ name: new TextEncoder().encode(name) }, { signal });
  try {
    for await (const r of stream) {
      show(env.printer, "get", env.out, {
        $typeName: "etcdserverpb.RangeResponse",
        header: r.header,
        kvs: r.kv ? [r.kv] : [],
        more: false,
        count: 0n,
      }, { valueOnly: false });
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  }
  if (!signal.aborted) throw new CliError(ExitCode.Error, "elect: observer lost");
}

async function campaign(env: RpcEnv, name: string, proposal: string): Promise<void> {
  const signal = interrupted();
  const session = await newSession(env.client, DEFAULT_SESSION_TTL);
  try {
    const elections = await election(env);
    const enc = new TextEncoder();
    const won = await elections.campaign(
      { name: enc.encode(name), lease: session.lease, value: enc.encode(proposal) },
      { signal },
    );
    const key = won.leader!.key;
    const got = await (await env.stubs()).kv.range({ key }, { ...env.callOpts, signal });
    show(env.printer, "get", env.out, got, { valueOnly: false });
    const how = await Promise.race([
      new Promise<"signal">((r) => signal.addEventListener("abort", () => r("signal"), { once: true })),
      session.done.then(() => "expired" as const),
    ]);
    if (how === "expired") throw new CliError(ExitCode.Error, "elect: session expired");
    await elections.resign({ leader: won.leader }, env.callOpts);
  } finally {
    session.stop();
  }
}

export const electCommand: Command = {
  use: "elect <election-name> [proposal]",
  short: "Observes and participates in leader election",
  flags: [{ name: "listen", short: "l", kind: "bool", def: false, usage: "observation mode" }],
  run: electRun,
};
