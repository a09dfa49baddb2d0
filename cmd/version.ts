/**
 * `version` (and our `--version`): etcdctl 3.4.23's two lines, so scripts that parse them
 * see the etcdctl we match, then etcdts's own release on a line of its own.
 */
import { API_VERSION, ETCDTS_VERSION, SERVER_VERSION } from "../api/version.ts";
import type { Command } from "./command.ts";

/** The etcdctl release we match, shown where etcdctl shows its own (also in --help). */
export const cliVersion = SERVER_VERSION;
/** The etcd API version etcdctl 3.4 reports. */
export const apiVersion = API_VERSION;

/** The text of `etcdctl version`, and our own release after it. */
export function versionText(): string {
  return `etcdctl version: ${cliVersion}\nAPI version: ${apiVersion}\netcdts version: ${ETCDTS_VERSION}\n`;
}

export const versionCommand: Command = {
  use: "version",
  short: "Prints the version of etcdctl",
  run: async (ctx) => {
    ctx.io.stdout.write(versionText());
    return 0;
  },
};
