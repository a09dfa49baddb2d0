/**
 * A member whose store holds one damaged value, for the tests of what the server does with
 * it: k0..k9 are put, the member is stopped, and one byte of k5's stored value is flipped
 * through SQLite (as a failing disk would), leaving its checksum alone.
 */
import { expect } from "bun:test";
import * as path from "node:path";
import { etcdts, type ServerProcess, startServer } from "../harness.ts";
import { flipValueBit } from "../store/history_rows.ts";

const enc = new TextEncoder();

/** A stopped member whose store holds k0..k9, and k5's revision. */
export async function stoppedMember(extraArgs: string[]): Promise<{ dataDir: string; k5: bigint }> {
  const server = await startServer("etcdts", { extraArgs });
  for (let i = 0; i < 10; i++) await ok(server, ["put", `k${i}`, `value ${i}`]);
  const k5 = BigInt(JSON.parse(await ok(server, ["get", "k5", "-w", "json"])).kvs[0].mod_revision);
  expect(await server.stop()).toBe(0);
  return { dataDir: server.dataDir, k5 };
}

export async function ok(server: ServerProcess, args: string[]): Promise<string> {
  const r = await etcdts(server.endpoint, args);
  if (r.code !== 0) throw new Error(`etcdts ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Flips one bit of k5's stored value, as a disk might, leaving its checksum alone. */
export function flipByte(dataDir: string): void {
  // "value 5" becomes "Value 5"
  flipValueBit(path.join(dataDir, "member", "snap", "db"), enc.encode("k5"), null, 0, 0x20);
}

/** `alarm list` with the CORRUPT alarm raised. */
export const CORRUPT_ALARM = /^memberID:\d+ alarm:CORRUPT \n$/;
