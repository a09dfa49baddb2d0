/**
 * `member list` (etcdctl's member_command.go). add/remove/update/promote come with the
 * membership issue: one more entry in `subcommands` each.
 */
import type { Command, RunContext } from "./command.ts";
import { show } from "./print/printer.ts";
import { runRpc } from "./rpc.ts";

async function memberListRun(ctx: RunContext): Promise<number> {
  return await runRpc(ctx, async ({ stubs, printer, out, callOpts }) => {
    show(printer, "memberList", out, await (await stubs()).cluster.memberList({}, callOpts));
  });
}

export const memberCommand: Command = {
  use: "member <subcommand>",
  short: "Membership related commands",
  subcommands: [{
    use: "list",
    short: "Lists all members in the cluster",
    long:
      `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`,
    run: memberListRun,
  }],
};
