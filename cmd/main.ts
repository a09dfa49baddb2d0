/**
 * The etcdctl-compatible CLI's entry point. main.ts calls `runCli` for every invocation that
 * is not the server. Everything that touches the network or the generated protobuf code is
 * imported lazily by the command that needs it, so `--help` and `version` stay cheap.
 */
import { type Command, type Face, findCommand, type RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { defaults, parseFlags } from "../lib/pflag.ts";
import { type HelpOptions, renderHelp } from "./help.ts";
import type { CliIo } from "./io.ts";
import { rootCommand } from "./root.ts";
import { apiVersion, cliVersion, versionText } from "./version.ts";

export type { CliIo, Face };

/**
 * Runs one CLI invocation (`args` without the program name) and returns its exit code.
 * Never exits the process: output goes to `io`, the caller sets the exit code. `face` is
 * the name the binary was invoked by (help differs: see cmd/help.ts).
 */
export async function runCli(args: string[], io: CliIo, opts: { face?: Face } = {}): Promise<number> {
  const api = io.env.ETCDCTL_API ?? "";
  if (api !== "" && api !== "3") {
    io.stderr.write(`unsupported API version ${api}\n`);
    return ExitCode.Error;
  }
  if (args.slice(0, dashIndex(args)).includes("--version")) {
    io.stdout.write(versionText());
    return ExitCode.Success;
  }
  try {
    return await dispatch(rootCommand(), args, io, helpOptions(opts.face ?? "etcdctl"));
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    io.stderr.write(e.raw ? `${e.message}\n` : `Error: ${e.message}\n`);
    return e.exitCode;
  }
}

function dashIndex(args: string[]): number {
  const i = args.indexOf("--");
  return i < 0 ? args.length : i;
}

/**
 * As `etcdctl`, the help is etcdctl 3.4's, the version it shows included; as `etcdts`,
 * our release.
 */
function helpOptions(face: Face): HelpOptions {
  return { version: cliVersion, apiVersion, face };
}

async function dispatch(root: Command, args: string[], io: CliIo, help: HelpOptions): Promise<number> {
  const found = findCommand(root, args);
  if (found.error !== undefined) {
    // cobra reports it, then etcdctl's ExitWithError reports it again
    io.stderr.write(`Error: ${found.error}\nRun 'etcdctl --help' for usage.\n`);
    throw new CliError(ExitCode.Error, found.error);
  }
  const { chain, local, inherited } = found;
  const flags = defaults([...local, ...inherited]);
  const parsed = parseFlags(found.args, [...local, ...inherited], flags);
  if (!parsed.ok) {
    // cobra prints the error and the usage (etcdctl's usage goes to stdout, a newline to stderr)
    io.stderr.write(`Error: ${parsed.error}\n`);
    io.stdout.write(renderHelp(chain, help));
    io.stderr.write("\n");
    throw new CliError(ExitCode.Error, parsed.error);
  }
  const cmd = chain[chain.length - 1];
  if (parsed.help || !cmd.run) {
    io.stdout.write(renderHelp(chain, help));
    return ExitCode.Success;
  }
  if (cmd.use.startsWith("help ")) return helpTopic(root, parsed.args, io, help);
  const ctx: RunContext = { path: chain.slice(1).map((c) => c.use.split(" ")[0]), flags, inherited, io };
  return await cmd.run(ctx, parsed.args);
}

// cobra's help command: help for the named command, or the root's help for an unknown topic.
function helpTopic(root: Command, topic: string[], io: CliIo, help: HelpOptions): number {
  const found = findCommand(root, topic);
  if (found.error !== undefined) {
    io.stderr.write(`Unknown help topic [\`${topic.join(" ")}\`]\n`); // cobra's Printf: stderr
    io.stdout.write(renderHelp([root], { ...help, omitHelpFlag: true }));
    return ExitCode.Success;
  }
  io.stdout.write(renderHelp(found.chain, help));
  return ExitCode.Success;
}
