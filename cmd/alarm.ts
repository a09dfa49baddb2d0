/**
 * `alarm list|disarm` (etcdctl's alarm_command.go). Disarm does what clientv3's
 * AlarmDisarm does for an empty member: list the alarms, then disarm each one.
 */
import type { Command, RunContext } from "./command.ts";
import { ExitCode, fail } from "./errors.ts";
import { runRpc } from "./rpc.ts";

async function alarmList(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 0) fail(ExitCode.BadArgs, "alarm list command accepts no arguments");
  return await runRpc(ctx, async ({ stubs, out, callOpts, printer }) => {
    const { AlarmRequest_AlarmAction, AlarmType } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
    const { printAlarms } = await import("./print/maintenance.ts");
    const resp = await (await stubs()).maintenance.alarm(
      { action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE },
      callOpts,
    );
    printAlarms(printer.format, out, resp);
  });
}

async function alarmDisarm(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 0) fail(ExitCode.BadArgs, "alarm disarm command accepts no arguments");
  return await runRpc(ctx, async ({ stubs, out, callOpts, printer }) => {
    const { create } = await import("@bufbuild/protobuf");
    const pb = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
    const { printAlarms } = await import("./print/maintenance.ts");
    const m = (await stubs()).maintenance;
    const listed = await m.alarm(
      { action: pb.AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: pb.AlarmType.NONE },
      callOpts,
    );
    // Like clientv3, the combined answer has no header of its own.
    const combined = create(pb.AlarmResponseSchema, {});
    for (const a of listed.alarms) {
      const r = await m.alarm(
        { action: pb.AlarmRequest_AlarmAction.DEACTIVATE, memberID: a.memberID, alarm: a.alarm },
        callOpts,
      );
      combined.alarms.push(...r.alarms);
    }
    printAlarms(printer.format, out, combined);
  });
}

export const alarmCommand: Command = {
  use: "alarm <subcommand>",
  short: "Alarm related commands",
  subcommands: [
    { use: "disarm", short: "Disarms all alarms", run: alarmDisarm },
    { use: "list", short: "Lists all alarms", run: alarmList },
  ],
};
