/**
 * `lease grant|revoke|timetolive|list|keep-alive` (etcdctl's lease_command.go).
 */
import type { Client } from "../client/client.ts";
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode, fail } from "./errors.ts";
import { parseGoInt64 } from "./gofmt.ts";
import type { LeaseOutput } from "./print/lease.ts";
import { runRpc } from "./rpc.ts";
import { keepAlive } from "./session.ts";

/** etcdctl's leaseFromArgs: a lease ID in hex. */
export function leaseFromArg(arg: string): bigint {
  const id = parseGoInt64(arg, 16);
  if (typeof id !== "bigint") fail(ExitCode.BadArgs, `bad lease ID arg (${id.error}), expecting ID in Hex`);
  return id;
}

async function leaseStub(client: Client) {
  const { Lease } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  return client.service(Lease);
}

// Runs a lease call; a failure becomes etcdctl's wording and exit code for that command.
function runLease(
  ctx: RunContext,
  onError: { code: number; wrap?: (msg: string) => string },
  body: (client: Client, print: (o: LeaseOutput) => void, timeoutMs: number | undefined) => Promise<void>,
): Promise<number> {
  return runRpc(ctx, async ({ client, printer, out, callOpts }) => {
    // The printers load the generated descriptors: only once a lease command runs.
    const { printLease } = await import("./print/lease.ts");
    const print = (o: LeaseOutput) => printLease(printer.format, out, o);
    try {
      await body(client, print, callOpts.timeoutMs);
    } catch (e) {
      if (e instanceof CliError) throw e;
      const { rpcErrorText } = await import("./rpc_error.ts");
      const msg = rpcErrorText(e);
      throw new CliError(onError.code, onError.wrap ? onError.wrap(msg) : msg);
    }
  });
}

async function grantRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "lease grant command needs TTL argument");
  const ttl = parseGoInt64(args[0], 10);
  if (typeof ttl !== "bigint") fail(ExitCode.BadArgs, `bad TTL (${ttl.error})`);
  return await runLease(
    ctx,
    { code: ExitCode.Error, wrap: (m) => `failed to grant lease (${m})` },
    async (c, print, t) => {
      print({ kind: "grant", r: await (await leaseStub(c)).leaseGrant({ TTL: ttl }, { timeoutMs: t }) });
    },
  );
}

async function revokeRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "lease revoke command needs 1 argument");
  const id = leaseFromArg(args[0]);
  return await runLease(
    ctx,
    { code: ExitCode.Error, wrap: (m) => `failed to revoke lease (${m})` },
    async (c, print, t) => {
      print({ kind: "revoke", id, r: await (await leaseStub(c)).leaseRevoke({ ID: id }, { timeoutMs: t }) });
    },
  );
}

async function timeToLiveRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "lease timetolive command needs lease ID as argument");
  const id = leaseFromArg(args[0]);
  const keys = ctx.flags.values.get("keys") as boolean;
  // etcdctl calls this one without a deadline.
  return await runLease(ctx, { code: ExitCode.BadConnection }, async (c, print) => {
    print({ kind: "timeToLive", r: await (await leaseStub(c)).leaseTimeToLive({ ID: id, keys }), keys });
  });
}

async function listRun(ctx: RunContext): Promise<number> {
  return await runLease(ctx, { code: ExitCode.BadConnection }, async (c, print) => {
    print({ kind: "leases", r: await (await leaseStub(c)).leaseLeases({}) });
  });
}

async function keepAliveRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "lease keep-alive command needs lease ID as argument");
  const id = leaseFromArg(args[0]);
  const once = ctx.flags.values.get("once") as boolean;
  return await runLease(ctx, { code: ExitCode.BadConnection }, async (c, print) => {
    if (once) {
      // clientv3's KeepAliveOnce: one request on a stream of its own; TTL 0 means no such lease.
      const stream = (await leaseStub(c)).leaseKeepAlive();
      await stream.send({ ID: id });
      const r = await stream.read();
      stream.cancel();
      if (r === undefined) throw new CliError(ExitCode.BadConnection, "etcdserver: no leader");
      if (r.TTL <= 0n) throw new CliError(ExitCode.BadConnection, "etcdserver: requested lease not found");
      print({ kind: "keepAlive", r });
      return;
    }
    const ka = await keepAlive(c, id, (r) => print({ kind: "keepAlive", r }));
    await ka.done;
    if (ctx.flags.values.get("write-out") === "simple") {
      const { leaseHex } = await import("./print/lease.ts");
      ctx.io.stdout.write(`lease ${leaseHex(id)} expired or revoked.\n`);
    }
  });
}

export const leaseCommand: Command = {
  use: "lease <subcommand>",
  short: "Lease related commands",
  subcommands: [
    { use: "grant <ttl>", short: "Creates leases", run: grantRun },
    { use: "revoke <leaseID>", short: "Revokes leases", run: revokeRun },
    {
      use: "timetolive <leaseID> [options]",
      short: "Get lease information",
      flags: [{ name: "keys", kind: "bool", def: false, usage: "Get keys attached to this lease" }],
      run: timeToLiveRun,
    },
    { use: "list", short: "List all active leases", run: listRun },
    {
      use: "keep-alive [options] <leaseID>",
      short: "Keeps leases alive (renew)",
      flags: [{
        name: "once",
        kind: "bool",
        def: false,
        usage: "Resets the keep-alive time to its original value and exits immediately",
      }],
      run: keepAliveRun,
    },
  ],
};
