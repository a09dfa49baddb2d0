/**
 * etcdctl's help text (etcdctl/ctlv3/help.go): its own template over cobra's command data,
 * flags listed as pflag would, the whole aligned by Go's tabwriter.
 */
import { type Command, commandName, type Face, flagsOf, sortedSubcommands } from "./command.ts";
import { defaultText, type FlagSpec } from "../lib/pflag.ts";
import { goQuote } from "./gofmt.ts";
import { tabwrite } from "./tabwriter.ts";

/** What the help shows besides the commands: versions, and the name it was invoked by. */
export interface HelpOptions {
  version: string;
  apiVersion: string;
  face: Face;
  /**
   * Leave --help out: cobra adds a command's help flag only when that command runs, so the
   * root's help printed after `help <unknown topic>` has none.
   */
  omitHelpFlag?: boolean;
}

/**
 * The server's commands, which `etcdts` lists above etcdctl's: a new user finds `serve`
 * in the first screen of `etcdts --help`.
 */
const SERVER_COMMANDS = [
  "\tserve\tStarts an etcd-compatible server (etcd's flags: 'etcdts serve --help'; or run it as 'etcd')\n",
  "\tgrpc-proxy start\tetcd's stateless gRPC proxy ('etcdts grpc-proxy start --help')\n",
  "\tgateway start\tetcd's L4 TCP gateway ('etcdts gateway start --help')\n",
].join("");

/** The help text for the last command of `chain` (root first). */
export function renderHelp(chain: Command[], opts: HelpOptions): string {
  const cmd = chain[chain.length - 1];
  const isRoot = chain.length === 1;
  const asEtcdts = isRoot && opts.face === "etcdts";
  const path = chain.map(commandName);
  const { local, inherited } = flagsOf(chain);
  let s = "NAME:\n";
  if (asEtcdts) {
    s += "\tetcdts - An etcd-compatible server and etcdctl-compatible client in one executable.\n";
    s += "\nUSAGE:\n\tetcdts serve [flags]\n\tetcdts [flags] <command> [args]\n";
  } else {
    s += `\t${isRoot ? commandName(cmd) : path.slice(1).join(" ")} - ${cmd.short}\n`;
    s += "\nUSAGE:\n";
    s += `\t${useLine(chain)}\n`;
  }
  if (isRoot) s += `\nVERSION:\n\t${opts.version}\n`;
  const hasSubs = (cmd.subcommands?.length ?? 0) > 0;
  if (hasSubs) {
    s += `\nAPI VERSION:\n\t${opts.apiVersion}\n`;
    if (asEtcdts) s += `\n\nSERVER COMMANDS:\n${SERVER_COMMANDS}`;
    s += asEtcdts ? "\nCLIENT COMMANDS (etcdctl's, also run as 'etcdctl'):\n" : "\n\nCOMMANDS:\n";
    for (const { sub, rel } of flatten(cmd, [], opts.face)) {
      if (sub.run) s += `\t${rel.join(" ")}\t${sub.short}\n`;
    }
  }
  if (cmd.long) {
    s += "\nDESCRIPTION:\n";
    for (const line of cmd.long.replace(/^[\n\t ]+|[\n\t ]+$/g, "").split("\n")) s += `\t${line}\n`;
  }
  s += `\nOPTIONS:\n${flagUsages(opts.omitHelpFlag ? local.filter((f) => f.name !== "help") : local)}`;
  if (inherited.length > 0) s += `\nGLOBAL OPTIONS:\n${flagUsages(inherited)}`;
  s += "\n";
  return tabwrite(s);
}

/** Cobra's UseLine: parents' path, the Use text, and " [flags]" (every command has --help). */
export function useLine(chain: Command[]): string {
  const cmd = chain[chain.length - 1];
  const parents = chain.slice(0, -1).map(commandName);
  const line = [...parents, cmd.use].join(" ");
  return line.includes("[flags]") ? line : `${line} [flags]`;
}

// Every descendant listed under `face`, depth first in name order, with its path relative to `cmd`.
function flatten(cmd: Command, prefix: string[], face: Face): { sub: Command; rel: string[] }[] {
  return sortedSubcommands(cmd).filter((sub) => (sub.face ?? face) === face).flatMap((sub) => {
    const rel = [...prefix, commandName(sub)];
    return [{ sub, rel }, ...flatten(sub, rel, face)];
  });
}

// etcdFlagUsages: one line per flag; bools show their optional value as [=default].
function flagUsages(flags: FlagSpec[]): string {
  return flags.filter((f) => !f.hidden).map((f) => {
    const head = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    const def = defaultText(f);
    const value = f.kind === "bool" ? `[=${def}]` : f.kind === "string" ? `=${goQuote(def)}` : `=${def}`;
    return `${head}${value}\t${f.usage}\n`;
  }).join("");
}
