/**
 * etcdctl 3.4's commands that etcdts does not build: `completion` (cobra's generated shell
 * scripts) and `migrate` (etcd v2 data, which etcdts never had). They exist so that
 * etcdctl's help, through a link named `etcdctl`, lists what etcdctl lists, and so that
 * running one says why it does nothing rather than "unknown command".
 */
import type { Command } from "./command.ts";
import { fail } from "./errors.ts";
import { ExitCode } from "./errors.ts";

function notBuilt(what: string): Command["run"] {
  return () => fail(ExitCode.Error, `${what} is not built into etcdts`);
}

function shell(name: string): Command {
  return {
    use: name,
    short: `Generate the autocompletion script for ${name}`,
    run: notBuilt(`completion ${name}`),
  };
}

export const completionCommand: Command = {
  use: "completion",
  short: "Generate the autocompletion script for the specified shell",
  long: "Generate the autocompletion script for etcdctl for the specified shell.\n" +
    "See each sub-command's help for details on how to use the generated script.\n",
  face: "etcdctl",
  subcommands: ["bash", "fish", "powershell", "zsh"].map(shell),
};

export const migrateCommand: Command = {
  use: "migrate",
  short: "Migrates keys in a v2 store to a mvcc store",
  face: "etcdctl",
  flags: [
    { name: "data-dir", kind: "string", def: "", usage: "Path to the data directory" },
    { name: "no-ttl", kind: "bool", def: false, usage: "Do not convert TTL keys" },
    { name: "transformer", kind: "string", def: "", usage: "Path to the user-provided transformer program" },
    { name: "wal-dir", kind: "string", def: "", usage: "Path to the WAL directory" },
  ],
  run: notBuilt("migrate (etcd v2 data, which etcdts never had)"),
};
