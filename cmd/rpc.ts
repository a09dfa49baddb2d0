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

/** Typed stubs over the generated descriptors (loading them costs ~35 ms: only when needed). */
export interface Stubs {
  kv: ServiceClient<typeof KV>;
  cluster: ServiceClient<typeof Cluster>;
  maintenance: ServiceClient<typeof Maintenance>;
}

/** What a command's body gets: the client, stubs on demand, the printer and per-call options. */
export interface RpcEnv {
  client: Client;
  stubs(): Promise<Stubs>;
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
  const client = await newClient(settings);
  const stubs = async (): Promise<Stubs> => {
    const pb = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
    return {
      kv: client.service(pb.KV),
      cluster: client.service(pb.Cluster),
      maintenance: client.service(pb.Maintenance),
    };
  };
  try {
    const code = await body({
      client,
      stubs,
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
