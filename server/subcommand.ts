/**
 * etcd's other server commands (`etcd gateway start`, `etcd grpc-proxy start`) are cobra
 * commands: their help, usage and flag errors are cobra's, byte for byte, because scripts
 * and people read them. This module owns that shape; each command brings its flags.
 */
import { defaults, type FlagSpec, type FlagValues, parseFlags, pflagUsages } from "../lib/pflag.ts";

/** A command group such as `etcd gateway` with its one `start` subcommand. */
export interface StartCommand {
  /** "gateway" or "grpc-proxy". */
  readonly group: string;
  /** The group's one-line description ("gateway related command"). */
  readonly groupShort: string;
  /** `start`'s one-line description ("start the gateway"). */
  readonly short: string;
  readonly flags: readonly FlagSpec[];
}

export interface Output {
  write(text: string): void;
}

/** What the command line asks for: parsed flags to start with, or an exit code already decided. */
export type StartArgs = { kind: "start"; flags: FlagValues } | { kind: "exit"; code: number };

function helpFlag(short: string): FlagSpec {
  return { name: "help", short: "h", kind: "bool", def: false, usage: `help for ${short}` };
}

function startUsage(cmd: StartCommand): string {
  const specs = [...cmd.flags, helpFlag("start")].sort((a, b) => a.name.localeCompare(b.name));
  return `Usage:\n  etcd ${cmd.group} start [flags]\n\nFlags:\n${pflagUsages(specs)}\n`;
}

function groupHelp(cmd: StartCommand): string {
  return `${cmd.groupShort}\n\nUsage:\n  etcd ${cmd.group} [command]\n\nAvailable Commands:\n` +
    `  start       ${cmd.short}\n\nFlags:\n  -h, --help   help for ${cmd.group}\n\n` +
    `Use "etcd ${cmd.group} [command] --help" for more information about a command.\n`;
}

/**
 * Parses `args` (what follows the group's name) as cobra would: the group alone or with
 * --help prints the group's help; `start --help` prints start's; a flag error prints
 * cobra's `Error:` and usage, then etcd's own repeat of the error, and exits 1.
 */
export function parseStart(cmd: StartCommand, args: readonly string[], out: Output, err: Output): StartArgs {
  if (args[0] !== "start") {
    out.write(groupHelp(cmd));
    return { kind: "exit", code: 0 };
  }
  const flags = defaults(cmd.flags);
  const parsed = parseFlags(args.slice(1), cmd.flags, flags);
  if (!parsed.ok) {
    err.write(`Error: ${parsed.error}\n${startUsage(cmd)}\n${parsed.error}`);
    return { kind: "exit", code: 1 };
  }
  if (parsed.help) {
    out.write(`${cmd.short}\n\n${startUsage(cmd)}`);
    return { kind: "exit", code: 0 };
  }
  return { kind: "start", flags };
}
