/**
 * The command tree. A later command group is one more module and one more line here.
 */
import type { Command } from "./command.ts";
import { authCommand } from "./auth.ts";
import { alarmCommand } from "./alarm.ts";
import { checkCommand } from "./check.ts";
import { compactionCommand } from "./compaction.ts";
import { defragCommand } from "./defrag.ts";
import { endpointCommand } from "./endpoint.ts";
import { globalFlags } from "./global.ts";
import { delCommand, getCommand, putCommand } from "./kv.ts";
import { leaseCommand } from "./lease.ts";
import { lockCommand } from "./lock.ts";
import { electCommand } from "./elect.ts";
import { makeMirrorCommand } from "./make-mirror.ts";
import { memberCommand } from "./member.ts";
import { completionCommand, migrateCommand } from "./not_built.ts";
import { moveLeaderCommand } from "./move-leader.ts";
import { roleCommand } from "./role.ts";
import { userCommand } from "./user.ts";
import { snapshotCommand } from "./snapshot.ts";
import { txnCommand } from "./txn.ts";
import { versionCommand } from "./version.ts";
import { watchCommand } from "./watch.ts";

/** Cobra's built-in `help [command]`; runCli renders the help itself. */
export const helpCommand: Command = {
  use: "help [command]",
  short: "Help about any command",
  long:
    "Help provides help for any command in the application.\nSimply type etcdctl help [path to command] for full details.",
  run: async () => 0,
};

/** etcdctl's root command with every command etcdts implements, and etcdctl's others. */
export function rootCommand(): Command {
  return {
    use: "etcdctl",
    short: "A simple command line client for etcd3.",
    persistentFlags: globalFlags,
    subcommands: [
      getCommand,
      putCommand,
      delCommand,
      txnCommand,
      watchCommand,
      makeMirrorCommand,
      compactionCommand,
      endpointCommand,
      versionCommand,
      memberCommand,
      moveLeaderCommand,
      leaseCommand,
      lockCommand,
      electCommand,
      checkCommand,
      authCommand,
      userCommand,
      roleCommand,
      alarmCommand,
      defragCommand,
      snapshotCommand,
      completionCommand,
      migrateCommand,
      helpCommand,
    ],
  };
}
