/**
 * `member list|add|remove|update|promote` (etcdctl's member_command.go).
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { goQuote, parseGoUint64 } from "../lib/gofmt.ts";
import { show } from "./print/printer.ts";
import { runRpc } from "./rpc.ts";

/** The member ID argument of remove/update/promote, with etcdctl's complaints. */
function memberIdArg(args: string[]): bigint {
  if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "member ID is not provided");
  const id = parseGoUint64(args[0], 16);
  if (typeof id !== "bigint") {
    throw new CliError(ExitCode.BadArgs, `bad member ID arg (${id.error}), expecting ID in Hex`);
  }
  return id;
}

function peerUrlsFlag(ctx: RunContext): string[] {
  const v = ctx.flags.values.get("peer-urls") as string;
  if (v === "") throw new CliError(ExitCode.BadArgs, "member peer urls not provided");
  return v.split(",");
}

async function memberListRun(ctx: RunContext): Promise<number> {
  return await runRpc(ctx, async ({ stubs, printer, out, callOpts }) => {
    show(printer, "memberList", out, await (await stubs()).cluster.memberList({}, callOpts));
  });
}

async function memberAddRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length < 1) throw new CliError(ExitCode.BadArgs, "member name not provided");
  if (args.length > 1) {
    let ev = "too many arguments";
    for (const a of args) if (a.toLowerCase().startsWith("http")) ev += `, did you mean --peer-urls=${a}`;
    throw new CliError(ExitCode.BadArgs, ev);
  }
  const name = args[0];
  const urlsFlag = ctx.flags.values.get("peer-urls") as string;
  const urls = peerUrlsFlag(ctx);
  const isLearner = ctx.flags.values.get("learner") as boolean;
  return await runRpc(ctx, async ({ stubs, printer, out, callOpts }) => {
    const resp = await (await stubs()).cluster.memberAdd({ peerURLs: urls, isLearner }, callOpts);
    show(printer, "memberAdd", out, resp);
    if (printer.format !== "simple") return;
    const newId = resp.member?.ID;
    const conf = resp.members.flatMap((m) => m.peerURLs.map((u) => `${m.ID === newId ? name : m.name}=${u}`));
    out.stdout.write(
      `\nETCD_NAME=${goQuote(name)}\nETCD_INITIAL_CLUSTER=${goQuote(conf.join(","))}\n` +
        `ETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(urlsFlag)}\nETCD_INITIAL_CLUSTER_STATE="existing"\n`,
    );
  });
}

async function memberRemoveRun(ctx: RunContext, args: string[]): Promise<number> {
  const id = memberIdArg(args);
  return await runRpc(ctx, async ({ stubs, printer, out, callOpts }) => {
    show(printer, "memberRemove", out, id, await (await stubs()).cluster.memberRemove({ ID: id }, callOpts));
  });
}

async function memberUpdateRun(ctx: RunContext, args: string[]): Promise<number> {
  const id = memberIdArg(args);
  const urls = peerUrlsFlag(ctx);
  return await runRpc(ctx, async ({ stubs, printer, out, callOpts }) => {
    const resp = await (await stubs()).cluster.memberUpdate({ ID: id, peerURLs: urls }, callOpts);
    show(printer, "memberUpdate", out, id, resp);
  });
}

async function memberPromoteRun(ctx: RunContext, args: string[]): Promise<number> {
  const id = memberIdArg(args);
  return await runRpc(ctx, async ({ stubs, printer, out, callOpts }) => {
    show(
      printer,
      "memberPromote",
      out,
      id,
      await (await stubs()).cluster.memberPromote({ ID: id }, callOpts),
    );
  });
}

export const memberCommand: Command = {
  use: "member <subcommand>",
  short: "Membership related commands",
  subcommands: [
    {
      use: "add <memberName> [options]",
      short: "Adds a member into the cluster",
      flags: [
        { name: "learner", kind: "bool", def: false, usage: "indicates if the new member is raft learner" },
        {
          name: "peer-urls",
          kind: "string",
          def: "",
          usage: "comma separated peer URLs for the new member.",
        },
      ],
      run: memberAddRun,
    },
    { use: "remove <memberID>", short: "Removes a member from the cluster", run: memberRemoveRun },
    {
      use: "update <memberID> [options]",
      short: "Updates a member in the cluster",
      flags: [
        {
          name: "peer-urls",
          kind: "string",
          def: "",
          usage: "comma separated peer URLs for the updated member.",
        },
      ],
      run: memberUpdateRun,
    },
    {
      use: "list",
      short: "Lists all members in the cluster",
      long:
        `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`,
      run: memberListRun,
    },
    {
      use: "promote <memberID>",
      short: "Promotes a non-voting member in the cluster",
      long: "Promotes a non-voting learner member to a voting one in the cluster.\n",
      run: memberPromoteRun,
    },
  ],
};
