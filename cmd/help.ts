/**
 * etcdctl's help text (etcdctl/ctlv3/help.go): its own template over cobra's command data,
 * flags listed as pflag would, the whole aligned by Go's tabwriter.
 */
import { type Command, commandName, flagsOf, sortedSubcommands } from "./command.ts";
import { defaultText, type FlagSpec } from "./flags.ts";
import { goQuote } from "./gofmt.ts";
import { tabwrite } from "./tabwriter.ts";

/** Versions shown in the root help. */
export interface HelpVersions {
  version: string;
  apiVersion: string;
}

/** The help text for the last command of `chain` (root first). */
export function renderHelp(chain: Command[], versions: HelpVersions): string {
  const cmd = chain[chain.length - 1];
  const isRoot = chain.length === 1;
  const path = chain.map(commandName);
  const { local, inherited } = flagsOf(chain);
  let s = "NAME:\n";
  s += `\t${isRoot ? commandName(cmd) : path.slice(1).join(" ")} - ${cmd.short}\n`;
  s += "\nUSAGE:\n";
  s += `\t${useLine(chain)}\n`;
  if (isRoot) s += `\nVERSION:\n\t${versions.version}\n`;
  const hasSubs = (cmd.subcommands?.length ?? 0) > 0;
  if (hasSubs) {
    s += `\nAPI VERSION:\n\t${versions.apiVersion}\n`;
    s += "\n\nCOMMANDS:\n";
    for (const { sub, rel } of flatten(cmd, [])) {
      if (sub.run) s += `\t${rel.join(" ")}\t${sub.short}\n`;
    }
  }
  if (cmd.long) {
    s += "\nDESCRIPTION:\n";
    for (const line of cmd.long.replace(/^[\n\t ]+|[\n\t ]+$/g, "").split("\n")) s += `\t${line}\n`;
  }
  s += `\nOPTIONS:\n${flagUsages(local)}`;
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

// Every descendant, depth first in name order, with its path relative to `cmd`.
function flatten(cmd: Command, prefix: string[]): { sub: Command; rel: string[] }[] {
  return sortedSubcommands(cmd).flatMap((sub) => {
    const rel = [...prefix, commandName(sub)];
    return [{ sub, rel }, ...flatten(sub, rel)];
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
