/**
 * How etcdctl prints the results of `user`, `role` and `auth` commands: the simple format's
 * sentences (printer_simple.go) and, for -w json, the response as Go's JSON. Other
 * formats answer "<format> not supported as output format", as a printer without the
 * method does.
 */
import type { Message } from "@bufbuild/protobuf";
import type { Permission } from "../../proto/gen/authpb/auth_pb.ts";
import { CliError, ExitCode } from "../errors.ts";
import type { Printer, PrintTarget } from "./printer.ts";

const dec = new TextDecoder();

/** Writes `simple` for the simple format, the JSON of `resp` for json. */
export async function printAuth(
  p: Printer,
  out: PrintTarget,
  resp: Message,
  simple: () => string,
): Promise<void> {
  if (p.format === "simple") {
    out.stdout.write(simple());
    return;
  }
  if (p.format === "json") {
    const { goJson } = await import("./json.ts");
    out.stdout.write(goJson(resp) + "\n");
    return;
  }
  throw new CliError(ExitCode.BadFeature, `${p.format} not supported as output format`);
}

/** clientv3.GetPrefixRangeEnd, on bytes. */
export function prefixRangeEnd(key: Uint8Array): Uint8Array {
  for (let i = key.length - 1; i >= 0; i--) {
    if (key[i] < 0xff) {
      const end = new Uint8Array(key.subarray(0, i + 1));
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** The simple format's `role get`. */
export function roleGetText(role: string, perms: readonly Permission[]): string {
  const lines = [`Role ${role}\n`, "KV Read:\n"];
  const show = (p: Permission) => {
    const key = dec.decode(p.key);
    if (p.rangeEnd.length === 0) return `\t${key}\n`;
    const end = dec.decode(p.rangeEnd);
    let s = end !== "\x00" ? `\t[${key}, ${end})` : `\t[${key}, <open ended>`;
    if (Buffer.compare(prefixRangeEnd(p.key), p.rangeEnd) === 0) s += ` (prefix ${key})`;
    return s + "\n";
  };
  // Permission types: READ = 0, WRITE = 1, READWRITE = 2.
  for (const p of perms) if (p.permType !== 1) lines.push(show(p));
  lines.push("KV Write:\n");
  for (const p of perms) if (p.permType !== 0) lines.push(show(p));
  return lines.join("");
}
