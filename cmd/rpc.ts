/**
 * The common shape of a command that talks to etcd: resolve the client settings and the
 * printer (after the command validated its arguments, as etcdctl does), call, print, and
 * turn a failed call into etcdctl's "Error: ..." with exit code 1.
 */
import type { CallOptions, Client, ServiceClient } from "../client/client.ts";
import type { Cluster, KV, Maintenance } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { type ClientSettings, clientSettings, commandTimeoutMs, newClient } from "./global.ts";
import type { Printer, PrintTarget } from "./print/printer.ts";
import { rpcErrorText } from "./rpc_error.ts";

/** What a command's body gets: typed stubs, the printer and per-call options with the command timeout. */
export interface RpcEnv {
  client: Client;
  kv: ServiceClient<typeof KV>;
  cluster: ServiceClient<typeof Cluster>;
  maintenance: ServiceClient<typeof Maintenance>;
  printer: Printer;
  out: PrintTarget;
  settings: ClientSettings;
  callOpts: CallOptions;
}

/** Runs `body` with a connected client; returns the exit code (0, or throws CliError). */
export async function runRpc(
  ctx: RunContext,
  body: (env: RpcEnv) => Promise<void | number>,
): Promise<number> {
  const { settings, printer } = await clientSettings(ctx);
  const pb = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const client = await newClient(settings);
  try {
    const code = await body({
      client,
      kv: client.service(pb.KV),
      cluster: client.service(pb.Cluster),
      maintenance: client.service(pb.Maintenance),
      printer,
      out: { stdout: ctx.io.stdout, stderr: ctx.io.stderr },
      settings,
      callOpts: { timeoutMs: commandTimeoutMs(ctx) },
    });
    return code ?? ExitCode.Success;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(ExitCode.Error, rpcErrorText(e));
  } finally {
    client.close();
  }
}
