/**
 * `move-leader <transferee-member-id>` (etcdctl's move_leader_command.go): find the leader
 * among --endpoints by asking each for its status, then ask it to hand over.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { clientSettings, commandTimeoutMs, newClient } from "./global.ts";
import { parseGoUint64 } from "../lib/gofmt.ts";
import { show } from "./print/printer.ts";
import { rpcErrorText } from "./rpc_error.ts";

async function moveLeaderRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "move-leader command needs 1 argument");
  const target = parseGoUint64(args[0], 16);
  if (typeof target !== "bigint") throw new CliError(ExitCode.BadArgs, target.error);
  const { settings, printer } = await clientSettings(ctx);
  const { Maintenance } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const callOpts = { timeoutMs: commandTimeoutMs(ctx) };
  for (const ep of settings.endpoints) {
    const client = await newClient({ ...settings, endpoints: [ep] });
    try {
      let status;
      try {
        status = await client.service(Maintenance).status({}, callOpts);
      } catch (e) {
        throw new CliError(ExitCode.Error, rpcErrorText(e));
      }
      const leader = status.leader;
      if (status.header?.memberId !== leader) continue;
      try {
        const resp = await client.service(Maintenance).moveLeader({ targetID: target }, callOpts);
        show(printer, "moveLeader", { stdout: ctx.io.stdout, stderr: ctx.io.stderr }, leader, target, resp);
        return ExitCode.Success;
      } catch (e) {
        throw new CliError(ExitCode.Error, rpcErrorText(e));
      }
    } finally {
      client.close();
    }
  }
  throw new CliError(ExitCode.BadArgs, `no leader endpoint given at [${settings.endpoints.join(" ")}]`);
}

export const moveLeaderCommand: Command = {
  use: "move-leader <transferee-member-id>",
  short: "Transfers leadership to another etcd cluster member.",
  run: moveLeaderRun,
};
