/**
 * `compaction <revision>` (etcdctl's compaction_command.go).
 */
import type { Command, RunContext } from "./command.ts";
import { ExitCode, fail } from "./errors.ts";
import { parseGoInt64 } from "./gofmt.ts";
import { runRpc } from "./rpc.ts";

async function compactionRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "compaction command needs 1 argument");
  const rev = parseGoInt64(args[0], 10);
  if (typeof rev !== "bigint") fail(ExitCode.Error, rev.error);
  const physical = ctx.flags.values.get("physical") as boolean;
  return await runRpc(ctx, async ({ stubs, out, callOpts }) => {
    await (await stubs()).kv.compact({ revision: rev, physical }, callOpts);
    out.stdout.write(`compacted revision ${rev}\n`);
  });
}

export const compactionCommand: Command = {
  use: "compaction [options] <revision>",
  short: "Compacts the event history in etcd",
  flags: [{
    name: "physical",
    kind: "bool",
    def: false,
    usage: "'true' to wait for compaction to physically remove all old revisions",
  }],
  run: compactionRun,
};
