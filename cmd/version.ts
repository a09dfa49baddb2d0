/**
 * `version` (and our `--version`): etcdctl's two lines. We report our own version, not
 * etcdctl's: scripts that parse "API version" still see 3.4, the API we implement.
 */
import pkg from "../package.json" with { type: "json" };
import type { Command } from "./command.ts";

/** Our release, shown where etcdctl shows its own. */
export const cliVersion: string = pkg.version;
/**
 * The etcdctl release whose commands and help this CLI reproduces: its help shows it, as
 * etcdctl's does, when the binary runs as `etcdctl`.
 */
export const etcdctlVersion = "3.4.23";
/** The etcd API version etcdctl 3.4 reports. */
export const apiVersion = "3.4";

/** The text of `etcdctl version`. */
export function versionText(): string {
  return `etcdctl version: ${cliVersion}\nAPI version: ${apiVersion}\n`;
}

export const versionCommand: Command = {
  use: "version",
  short: "Prints the version of etcdctl",
  run: async (ctx) => {
    ctx.io.stdout.write(versionText());
    return 0;
  },
};
