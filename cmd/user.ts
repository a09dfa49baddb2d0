/** `user add|delete|get|list|passwd|grant-role|revoke-role` (etcdctl's user_command.go). */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { askPassword } from "./ask_password.ts";
import { LineReader } from "./io.ts";
import { roleGetText } from "./print/auth.ts";
import { runAuth } from "./auth.ts";

/**
 * The password for `user add`/`passwd`: with --interactive=false one word from stdin
 * (Go's Scanf("%s")); otherwise asked twice, as etcdctl does at a terminal.
 */
async function readPassword(ctx: RunContext, name: string): Promise<string> {
  const lines = new LineReader(ctx.io.stdin);
  if (!(ctx.flags.values.get("interactive") as boolean)) {
    return ((await lines.next()) ?? "").trim().split(/\s+/)[0] ?? "";
  }
  const p1 = await askPassword(ctx.io, lines, `Password of ${name}: `);
  if (p1 === "") throw new CliError(ExitCode.BadArgs, "empty password");
  const p2 = await askPassword(ctx.io, lines, `Type password of ${name} again for confirmation: `);
  if (p1 !== p2) throw new CliError(ExitCode.BadArgs, "given passwords are different");
  return p1;
}

async function userAdd(ctx: RunContext, args: string[]): Promise<number> {
  const check = { ok: args.length === 1, usage: "user add command requires user name as its argument" };
  if (!check.ok) throw new CliError(ExitCode.BadArgs, check.usage);
  const noPassword = ctx.flags.values.get("no-password") as boolean;
  const fromFlag = ctx.flags.values.get("new-user-password") as string;
  let user = args[0];
  let password = "";
  if (!noPassword) {
    const colon = args[0].indexOf(":");
    if (fromFlag !== "") password = fromFlag;
    else if (colon < 0) password = await readPassword(ctx, args[0]);
    else {
      user = args[0].slice(0, colon);
      password = args[0].slice(colon + 1);
      if (user === "") throw new CliError(ExitCode.BadArgs, "empty user name is not allowed");
    }
  }
  return await runAuth(ctx, check, async ({ auth, callOpts, print }) => {
    const r = await auth.userAdd({ name: user, password, options: { noPassword } }, callOpts);
    await print(r, () => `User ${user} created\n`);
  });
}

const interactive = {
  name: "interactive",
  kind: "bool" as const,
  def: true,
  usage: "Read password from stdin instead of interactive terminal",
};

export const userCommand: Command = {
  use: "user <subcommand>",
  short: "User related commands",
  subcommands: [
    {
      use: "add <user name or user:password> [options]",
      short: "Adds a new user",
      flags: [
        interactive,
        {
          name: "new-user-password",
          kind: "string",
          def: "",
          usage: "Supply password from the command line flag",
        },
        {
          name: "no-password",
          kind: "bool",
          def: false,
          usage: "Create a user without password (CN based auth only)",
        },
      ],
      run: userAdd,
    },
    {
      use: "delete <user name>",
      short: "Deletes a user",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 1,
          usage: "user delete command requires user name as its argument",
        }, async ({ auth, callOpts, print }) => {
          const r = await auth.userDelete({ name: args[0] }, callOpts);
          await print(r, () => `User ${args[0]} deleted\n`);
        }),
    },
    {
      use: "get <user name> [options]",
      short: "Gets detailed information of a user",
      flags: [{
        name: "detail",
        kind: "bool",
        def: false,
        usage: "Show permissions of roles granted to the user",
      }],
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 1,
          usage: "user get command requires user name as its argument",
        }, async ({ auth, callOpts, print, out }) => {
          const r = await auth.userGet({ name: args[0] }, callOpts);
          if (!(ctx.flags.values.get("detail") as boolean)) {
            await print(r, () => `User: ${args[0]}\nRoles:${r.roles.map((x) => " " + x).join("")}\n`);
            return;
          }
          out.stdout.write(`User: ${args[0]}\n`);
          for (const role of r.roles) {
            out.stdout.write("\n");
            const rr = await auth.roleGet({ role }, callOpts);
            await print(rr, () => roleGetText(role, rr.perm));
          }
        }),
    },
    {
      use: "list",
      short: "Lists all users",
      run: (ctx, args) =>
        runAuth(
          ctx,
          { ok: args.length === 0, usage: "user list command requires no arguments" },
          async (
            { auth, callOpts, print },
          ) => {
            const r = await auth.userList({}, callOpts);
            await print(r, () => r.users.map((u) => `${u}\n`).join(""));
          },
        ),
    },
    {
      use: "passwd <user name> [options]",
      short: "Changes password of user",
      flags: [{ ...interactive, usage: "If true, read password from stdin instead of interactive terminal" }],
      run: async (ctx, args) => {
        const check = {
          ok: args.length === 1,
          usage: "user passwd command requires user name as its argument",
        };
        if (!check.ok) throw new CliError(ExitCode.BadArgs, check.usage);
        const password = await readPassword(ctx, args[0]);
        return await runAuth(ctx, check, async ({ auth, callOpts, print }) => {
          const r = await auth.userChangePassword({ name: args[0], password }, callOpts);
          await print(r, () => "Password updated\n");
        });
      },
    },
    {
      use: "grant-role <user name> <role name>",
      short: "Grants a role to a user",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 2,
          usage: "user grant command requires user name and role name as its argument",
        }, async ({ auth, callOpts, print }) => {
          const r = await auth.userGrantRole({ user: args[0], role: args[1] }, callOpts);
          await print(r, () => `Role ${args[1]} is granted to user ${args[0]}\n`);
        }),
    },
    {
      use: "revoke-role <user name> <role name>",
      short: "Revokes a role from a user",
      run: (ctx, args) =>
        runAuth(ctx, {
          ok: args.length === 2,
          usage: "user revoke-role requires user name and role name as its argument",
        }, async ({ auth, callOpts, print }) => {
          const r = await auth.userRevokeRole({ name: args[0], role: args[1] }, callOpts);
          await print(r, () => `Role ${args[1]} is revoked from user ${args[0]}\n`);
        }),
    },
  ],
};
