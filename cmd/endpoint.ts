/**
 * `endpoint health|status|hashkv [--cluster]` (etcdctl's ep_command.go). Each endpoint is
 * asked on its own connection, as clientv3 does for Status/HashKV.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { type ClientSettings, clientSettings, commandTimeoutMs, newClient } from "./global.ts";
import { formatNanos } from "./gofmt.ts";
import { type EndpointHashKV, type EndpointHealth, type EndpointStatus, show } from "./print/printer.ts";
import { rpcErrorText } from "./rpc_error.ts";
import { GrpcError } from "../client/status.ts";

const permissionDenied = "etcdserver: permission denied";

/** etcdctl's endpointsFromCluster: --endpoints, or every member's client URLs with --cluster. */
export async function targetEndpoints(ctx: RunContext, settings: ClientSettings): Promise<string[]> {
  if (!(ctx.flags.values.get("cluster") as boolean)) return settings.endpoints;
  const { Cluster } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const client = await newClient(settings);
  try {
    const resp = await client.service(Cluster).memberList({}, { timeoutMs: commandTimeoutMs(ctx) });
    return resp.members.flatMap((m) => m.clientURLs);
  } catch (e) {
    throw new CliError(
      ExitCode.Error,
      `failed to fetch endpoints from etcd cluster member list: ${rpcErrorText(e)}`,
    );
  } finally {
    client.close();
  }
}

/**
 * Runs `call` against each endpoint on its own client. A client that cannot be made (its
 * login failed) ends the command, unless `dialFailed` turns it into that endpoint's answer.
 */
export async function perEndpoint<T>(
  settings: ClientSettings,
  endpoints: string[],
  call: (client: Awaited<ReturnType<typeof newClient>>, ep: string) => Promise<T>,
  dialFailed?: (ep: string, message: string) => T,
): Promise<T[]> {
  return await Promise.all(endpoints.map(async (ep) => {
    let client;
    try {
      client = await newClient({ ...settings, endpoints: [ep] });
    } catch (e) {
      if (dialFailed === undefined || !(e instanceof CliError)) throw e;
      return dialFailed(ep, e.message);
    }
    try {
      return await call(client, ep);
    } finally {
      client.close();
    }
  }));
}

async function healthRun(ctx: RunContext): Promise<number> {
  const { settings, printer } = await clientSettings(ctx);
  const { KV } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const endpoints = await targetEndpoints(ctx, settings);
  const list: EndpointHealth[] = [];
  // etcdctl lists endpoints in the order their checks finish
  await perEndpoint(settings, endpoints, async (client, ep) => {
    const start = process.hrtime.bigint();
    let error = "";
    try {
      await client.service(KV).range({ key: new TextEncoder().encode("health") }, {
        timeoutMs: commandTimeoutMs(ctx),
      });
    } catch (e) {
      const text = rpcErrorText(e);
      if (!(e instanceof GrpcError && text === permissionDenied)) error = text;
    }
    const took = formatNanos(process.hrtime.bigint() - start);
    list.push({ ep, health: error === "", took, error });
  }, (ep, error) => {
    // etcdctl makes each endpoint's client itself: a failed login is that endpoint's answer
    list.push({ ep, health: false, took: "", error });
  });
  show(printer, "endpointHealth", { stdout: ctx.io.stdout, stderr: ctx.io.stderr }, list);
  if (list.some((h) => h.error !== "")) throw new CliError(ExitCode.Error, "unhealthy cluster");
  return ExitCode.Success;
}

async function statusRun(ctx: RunContext): Promise<number> {
  const { settings, printer } = await clientSettings(ctx);
  const { Maintenance } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const endpoints = await targetEndpoints(ctx, settings);
  const results = await perEndpoint(settings, endpoints, async (client, ep) => {
    try {
      return { ep, resp: await client.service(Maintenance).status({}, { timeoutMs: commandTimeoutMs(ctx) }) };
    } catch (e) {
      return { ep, error: rpcErrorText(e) };
    }
  });
  const list: EndpointStatus[] = [];
  let failed = false;
  for (const r of results) {
    if (r.resp) list.push({ ep: r.ep, resp: r.resp });
    else {
      failed = true;
      ctx.io.stderr.write(`Failed to get the status of endpoint ${r.ep} (${r.error})\n`);
    }
  }
  show(printer, "endpointStatus", { stdout: ctx.io.stdout, stderr: ctx.io.stderr }, list);
  return failed ? ExitCode.Error : ExitCode.Success;
}

async function hashKVRun(ctx: RunContext): Promise<number> {
  const { settings, printer } = await clientSettings(ctx);
  const { Maintenance } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const endpoints = await targetEndpoints(ctx, settings);
  const revision = ctx.flags.values.get("rev") as bigint;
  const results = await perEndpoint(settings, endpoints, async (client, ep) => {
    try {
      return {
        ep,
        resp: await client.service(Maintenance).hashKV({ revision }, { timeoutMs: commandTimeoutMs(ctx) }),
      };
    } catch (e) {
      return { ep, error: rpcErrorText(e) };
    }
  });
  const list: EndpointHashKV[] = [];
  let lastError: string | undefined;
  for (const r of results) {
    if (r.resp) list.push({ ep: r.ep, resp: r.resp });
    else {
      lastError = r.error;
      ctx.io.stderr.write(`Failed to get the hash of endpoint ${r.ep} (${r.error})\n`);
    }
  }
  show(printer, "endpointHashKV", { stdout: ctx.io.stdout, stderr: ctx.io.stderr }, list);
  if (lastError !== undefined) throw new CliError(ExitCode.Error, lastError);
  return ExitCode.Success;
}

export const endpointCommand: Command = {
  use: "endpoint <subcommand>",
  short: "Endpoint related commands",
  persistentFlags: [{
    name: "cluster",
    kind: "bool",
    def: false,
    usage: "use all endpoints from the cluster member list",
  }],
  subcommands: [
    {
      use: "health",
      short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
      run: healthRun,
    },
    {
      use: "status",
      short: "Prints out the status of endpoints specified in `--endpoints` flag",
      long:
        `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
`,
      run: statusRun,
    },
    {
      use: "hashkv",
      short: "Prints the KV history hash for each endpoint in --endpoints",
      persistentFlags: [{
        name: "rev",
        kind: "int64",
        def: 0n,
        usage: "maximum revision to hash (default: all revisions)",
      }],
      run: hashKVRun,
    },
  ],
};
