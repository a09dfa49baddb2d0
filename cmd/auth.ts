/**
 * `auth enable|disable|status` (etcdctl's auth_command.go; `status` is etcd 3.5's), and
 * the runner the `user` and `role` commands share.
 */
import type { Message } from "@bufbuild/protobuf";
import type { ServiceClient } from "../client/client.ts";
import type { Auth } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { printAuth } from "./print/auth.ts";
import { type RpcEnv, runRpc } from "./rpc.ts";

/** What an auth command body gets: the Auth stub and a printer for its answer. */
export interface AuthEnv extends RpcEnv {
  auth: ServiceClient<typeof Auth>;
  /** Prints `resp` (simple: the sentence `simple()` makes). */
  print(resp: Message, simple: () => string): Promise<void>;
}

/** Runs an auth command after checking its argument count (etcdctl's ExitBadArgs message). */
export async function runAuth(
  ctx: RunContext,
  check: { ok: boolean; usage: string },
  body: (env: AuthEnv) => Promise<void>,
): Promise<number> {
  if (!check.ok) throw new CliError(ExitCode.BadArgs, check.usage);
  return await runRpc(ctx, async (env) => {
    const pb = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
    const auth = env.client.service(pb.Auth);
    await body({ ...env, auth, print: (resp, simple) => printAuth(env.printer, env.out, resp, simple) });
  });
}

const ROOT_ROLE_MISSING = "etcdserver: root user does not have root role";

export const authCommand: Command = {
  use: "auth <enable or disable>",
  short: "Enable or disable authentication",
  subcommands: [
    {
      use: "enable",
      short: "Enables authentication",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 0,
          usage: "auth enable command does not accept any arguments",
        }, async ({ auth, callOpts, out }) => {
          // Like etcdctl: a root user without the root role gets it (creating the role) first.
          for (;;) {
            try {
              await auth.authEnable({}, callOpts);
              break;
            } catch (e) {
              if ((e as Error).message !== ROOT_ROLE_MISSING) throw e;
              await auth.roleAdd({ name: "root" }, callOpts);
              await auth.userGrantRole({ user: "root", role: "root" }, callOpts);
            }
          }
          out.stdout.write("Authentication Enabled\n");
        }),
    },
    {
      use: "disable",
      short: "Disables authentication",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 0,
          usage: "auth disable command does not accept any arguments",
        }, async ({ auth, callOpts, out }) => {
          await auth.authDisable({}, callOpts);
          out.stdout.write("Authentication Disabled\n");
        }),
    },
    {
      use: "status",
      short: "Returns authentication status",
      face: "etcdts", // etcdctl 3.5's
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 0,
          usage: "auth status command does not accept any arguments",
        }, async ({ auth, callOpts, print }) => {
          const r = await auth.authStatus({}, callOpts);
          await print(r, () => `Authentication Status: ${r.enabled}\nAuthRevision: ${r.authRevision}\n`);
        }),
    },
  ],
};
