/** `role add|delete|get|list|grant-permission|revoke-permission` (etcdctl's role_command.go). */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import type { FlagSpec } from "../lib/pflag.ts";
import { prefixRangeEnd, roleGetText } from "./print/auth.ts";
import { runAuth } from "./auth.ts";

const enc = new TextEncoder();

/** etcdctl's permRange: the key and range end the --prefix/--from-key flags and args make. */
function permRange(ctx: RunContext, args: string[]): { key: Uint8Array; rangeEnd: Uint8Array } {
  const prefix = ctx.flags.values.get("prefix") as boolean;
  const fromKey = ctx.flags.values.get("from-key") as boolean;
  const bad = (m: string): never => {
    throw new CliError(ExitCode.BadArgs, m);
  };
  const key = enc.encode(args[0]);
  const zero = new Uint8Array([0]);
  const none = new Uint8Array();
  if (key.length === 0) {
    if (prefix && fromKey) bad("--from-key and --prefix flags are mutually exclusive");
    return { key: zero, rangeEnd: prefix || fromKey ? zero : none };
  }
  if (args.length === 1) {
    if (prefix) {
      if (fromKey) bad("--from-key and --prefix flags are mutually exclusive");
      return { key, rangeEnd: prefixRangeEnd(key) };
    }
    return { key, rangeEnd: fromKey ? zero : none };
  }
  if (prefix) bad("unexpected endkey argument with --prefix flag");
  if (fromKey) bad("unexpected endkey argument with --from-key flag");
  return { key, rangeEnd: enc.encode(args[1]) };
}

const PERM_TYPES: Record<string, number> = { READ: 0, WRITE: 1, READWRITE: 2 };

function rangeFlags(verb: string): FlagSpec[] {
  return [
    { name: "prefix", kind: "bool", def: false, usage: `${verb} a prefix permission` },
    {
      name: "from-key",
      kind: "bool",
      def: false,
      usage:
        `${verb} a permission of keys that are greater than or equal to the given key using byte compare`,
    },
  ];
}

export const roleCommand: Command = {
  use: "role <subcommand>",
  short: "Role related commands",
  subcommands: [
    {
      use: "add <role name>",
      short: "Adds a new role",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 1,
          usage: "role add command requires role name as its argument",
        }, async (
          { auth, callOpts, print },
        ) => {
          const r = await auth.roleAdd({ name: args[0] }, callOpts);
          await print(r, () => `Role ${args[0]} created\n`);
        }),
    },
    {
      use: "delete <role name>",
      short: "Deletes a role",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 1,
          usage: "role delete command requires role name as its argument",
        }, async ({ auth, callOpts, print }) => {
          const r = await auth.roleDelete({ role: args[0] }, callOpts);
          await print(r, () => `Role ${args[0]} deleted\n`);
        }),
    },
    {
      use: "get <role name>",
      short: "Gets detailed information of a role",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 1,
          usage: "role get command requires role name as its argument",
        }, async (
          { auth, callOpts, print },
        ) => {
          const r = await auth.roleGet({ role: args[0] }, callOpts);
          await print(r, () => roleGetText(args[0], r.perm));
        }),
    },
    {
      use: "list",
      short: "Lists all roles",
      run: (ctx, args) =>
        runAuth(
          ctx,
          { ok: args.length === 0, usage: "role list command requires no arguments" },
          async (
            { auth, callOpts, print },
          ) => {
            const r = await auth.roleList({}, callOpts);
            await print(r, () => r.roles.map((x) => `${x}\n`).join(""));
          },
        ),
    },
    {
      use: "grant-permission [options] <role name> <permission type> <key> [endkey]",
      short: "Grants a key to a role",
      flags: rangeFlags("grant"),
      run: async (ctx, args) => {
        const check = {
          ok: args.length >= 3,
          usage: "role grant command requires role name, permission type, and key [endkey] as its argument",
        };
        if (!check.ok) throw new CliError(ExitCode.BadArgs, check.usage);
        const permType = PERM_TYPES[args[1].toUpperCase()];
        if (permType === undefined) {
          throw new CliError(ExitCode.BadArgs, `invalid permission type: ${args[1]}`);
        }
        const { key, rangeEnd } = permRange(ctx, args.slice(2));
        return await runAuth(ctx, check, async ({ auth, callOpts, print }) => {
          const r = await auth.roleGrantPermission({
            name: args[0],
            perm: { permType, key, rangeEnd },
          }, callOpts);
          await print(r, () => `Role ${args[0]} updated\n`);
        });
      },
    },
    {
      use: "revoke-permission <role name> <key> [endkey]",
      short: "Revokes a key from a role",
      flags: rangeFlags("revoke"),
      run: async (ctx, args) => {
        const check = {
          ok: args.length >= 2,
          usage: "role revoke-permission command requires role name and key [endkey] as its argument",
        };
        if (!check.ok) throw new CliError(ExitCode.BadArgs, check.usage);
        const { key, rangeEnd } = permRange(ctx, args.slice(1));
        return await runAuth(ctx, check, async ({ auth, callOpts, print }) => {
          const r = await auth.roleRevokePermission({
            role: args[0],
            key,
            rangeEnd,
          }, callOpts);
          const k = args[1];
          const end = new TextDecoder().decode(rangeEnd);
          await print(
            r,
            () =>
              end === ""
                ? `Permission of key ${k} is revoked from role ${args[0]}\n`
                : end !== "\x00"
                ? `Permission of range [${k}, ${end}) is revoked from role ${args[0]}\n`
                : `Permission of range [${k}, <open ended> is revoked from role ${args[0]}\n`,
          );
        });
      },
    },
  ],
};
