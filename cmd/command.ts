/**
 * The command tree and how a command line is resolved to a command, with spf13/cobra's
 * rules as etcdctl 3.4 configures them (prefix matching on, suggestions by edit distance).
 */
import type { FlagSpec, FlagValues } from "../lib/pflag.ts";
import type { CliIo } from "./io.ts";

/** What a command's run function gets. */
export interface RunContext {
  /** The command's path below the root, e.g. ["endpoint", "health"]. */
  path: string[];
  /** Values of the command's own and inherited flags. */
  flags: FlagValues;
  /** Flags inherited from parents (what ETCDCTL_* variables may set). */
  inherited: readonly FlagSpec[];
  io: CliIo;
}

/**
 * The name the binary was invoked by, which decides what its help lists: `etcdctl` (a link
 * of that name) reproduces etcdctl 3.4's help byte for byte; `etcdts` adds the server.
 */
export type Face = "etcdts" | "etcdctl";

/**
 * A command as declared by a command-group module. `run` returns the exit code; a missing
 * `run` makes the command a group that prints its help.
 */
export interface Command {
  /** Cobra's Use line; its first word is the command's name. */
  use: string;
  short: string;
  long?: string;
  flags?: FlagSpec[];
  /** Flags inherited by subcommands (cobra's persistent flags). */
  persistentFlags?: FlagSpec[];
  subcommands?: Command[];
  run?: (ctx: RunContext, args: string[]) => Promise<number>;
  /**
   * Listed in help only under this face: etcdctl 3.4's commands etcdts does not build are
   * listed as etcdctl (its help is byte-identical), commands etcdctl 3.4 lacks as etcdts.
   * Either face runs every command.
   */
  face?: Face;
}

/** A command's name: the first word of its Use line. */
export function commandName(c: Command): string {
  const i = c.use.indexOf(" ");
  return i < 0 ? c.use : c.use.slice(0, i);
}

/** Subcommands sorted by name, as cobra lists and searches them. */
export function sortedSubcommands(c: Command): Command[] {
  return [...(c.subcommands ?? [])].sort((a, b) => (commandName(a) < commandName(b) ? -1 : 1));
}

/** The help flag cobra adds to every command. */
export function helpFlag(c: Command): FlagSpec {
  return { name: "help", short: "h", kind: "bool", def: false, usage: `help for ${commandName(c)}` };
}

/** The chain root → … → command, with the flags each level contributes. */
export interface Resolved {
  chain: Command[];
  /** Args left for flag parsing (command names removed). */
  args: string[];
  /** Flags declared by the command itself, including help. */
  local: FlagSpec[];
  /** Persistent flags of its ancestors. */
  inherited: FlagSpec[];
  /** Cobra's "unknown command" error, raised only at the root. */
  error?: string;
}

/** The flags visible on a chain: local (with help) and inherited, each sorted by name. */
export function flagsOf(chain: Command[]): { local: FlagSpec[]; inherited: FlagSpec[] } {
  const cmd = chain[chain.length - 1];
  const local = [...(cmd.flags ?? []), ...(cmd.persistentFlags ?? []), helpFlag(cmd)];
  const inherited = chain.slice(0, -1).flatMap((c) => c.persistentFlags ?? []);
  const byName = (a: FlagSpec, b: FlagSpec) => (a.name < b.name ? -1 : 1);
  return { local: local.sort(byName), inherited: inherited.sort(byName) };
}

/** Resolves args to a command the way cobra's Command.Find does. */
export function findCommand(root: Command, args: readonly string[]): Resolved {
  const chain = [root];
  let rest = [...args];
  for (;;) {
    const cmd = chain[chain.length - 1];
    const { local, inherited } = flagsOf(chain);
    const all = [...local, ...inherited];
    const words = stripFlags(rest, all);
    const next = words[0];
    const sub = next === undefined ? undefined : findNext(cmd, next);
    if (sub === undefined) {
      let error: string | undefined;
      if (chain.length === 1 && (cmd.subcommands?.length ?? 0) > 0 && next !== undefined) {
        error = `unknown command ${goQuoteSimple(next)} for "${commandName(root)}"${suggestions(cmd, next)}`;
      }
      return { chain, args: rest, local, inherited, error };
    }
    rest = argsMinusFirst(rest, next!, all);
    chain.push(sub);
  }
}

// Cobra's %q of a user-typed word; command names are plain text in practice.
function goQuoteSimple(s: string): string {
  return JSON.stringify(s);
}

function isBoolFlag(name: string, flags: readonly FlagSpec[]): boolean {
  return flags.some((f) => f.name === name && f.kind === "bool");
}

function isBoolShort(short: string, flags: readonly FlagSpec[]): boolean {
  return flags.some((f) => f.short === short && f.kind === "bool");
}

// A flag that takes a value and is written without "=" swallows the next word (cobra assumes
// so even for unknown flags, which is why `etcdctl --bogus get foo` looks for command "foo").
function takesNext(s: string, flags: readonly FlagSpec[]): boolean {
  if (s.includes("=")) return false;
  if (s.startsWith("--")) return !isBoolFlag(s.slice(2), flags);
  return s.startsWith("-") && s.length === 2 && !isBoolShort(s.slice(1), flags);
}

// cobra's stripFlags: the non-flag words of args.
function stripFlags(args: readonly string[], flags: readonly FlagSpec[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const s = args[i];
    if (s === "--") break;
    if (takesNext(s, flags)) {
      if (args.length - i - 1 <= 1) break;
      i++;
      continue;
    }
    if (s !== "" && !s.startsWith("-")) words.push(s);
  }
  return words;
}

// cobra's argsMinusFirstX: removes the first non-flag occurrence of x.
function argsMinusFirst(args: string[], x: string, flags: readonly FlagSpec[]): string[] {
  for (let i = 0; i < args.length; i++) {
    const s = args[i];
    if (s === "--") break;
    if (takesNext(s, flags)) {
      i++;
      continue;
    }
    if (!s.startsWith("-") && s === x) return [...args.slice(0, i), ...args.slice(i + 1)];
  }
  return args;
}

// Exact name first, else a unique prefix (cobra.EnablePrefixMatching = true in etcdctl).
function findNext(cmd: Command, word: string): Command | undefined {
  const subs = sortedSubcommands(cmd);
  const exact = subs.find((s) => commandName(s) === word);
  if (exact) return exact;
  const matches = subs.filter((s) => commandName(s).startsWith(word));
  return matches.length === 1 ? matches[0] : undefined;
}

// cobra's "Did you mean this?" block: edit distance ≤ 2 (case-insensitive) or a name prefix.
function suggestions(cmd: Command, typed: string): string {
  const names = sortedSubcommands(cmd).map(commandName).filter((n) =>
    levenshtein(typed.toLowerCase(), n.toLowerCase()) <= 2 || n.toLowerCase().startsWith(typed.toLowerCase())
  );
  if (names.length === 0) return "";
  return "\n\nDid you mean this?\n" + names.map((n) => `\t${n}\n`).join("");
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}
