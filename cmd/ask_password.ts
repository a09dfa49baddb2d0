/**
 * How etcdctl asks for a password (speakeasy.Ask): the prompt on stdout, terminal echo
 * turned off by running stty on stdin, one line with spaces trimmed, echo back on, and a
 * newline after. Off a terminal stty complains on stderr, and etcdctl's does the same.
 */
import type { CliIo, LineReader } from "./io.ts";

export async function askPassword(io: CliIo, lines: LineReader, prompt: string): Promise<string> {
  io.stdout.write(prompt);
  stty("-echo");
  try {
    return ((await lines.next()) ?? "").replace(/\r$/, "").trim();
  } finally {
    stty("echo");
    io.stdout.write("\n");
  }
}

function stty(arg: string): void {
  try {
    // speakeasy runs /bin/stty as "stty": its complaints then read the same
    Bun.spawnSync(["/bin/stty", arg], {
      argv0: "stty",
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    });
  } catch {
    // no stty: the password is read with echo on, as it is on a system without one
  }
}
