/**
 * A member whose store holds one damaged value, for the tests of what the server does with
 * it: k0..k9 are put, the member is stopped, and one byte of k5's stored value is flipped
 * through SQLite (as a failing disk would), leaving its checksum alone.
 */
import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import * as path from "node:path";
import { etcdts, type ServerProcess, startServer } from "../harness.ts";

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
  const db = new Database(path.join(dataDir, "member", "snap", "db"));
  try {
    const [value] = db.query("SELECT value FROM history WHERE key = ?1").values(enc.encode("k5"))[0] as [
      Uint8Array,
    ];
    const bad = new Uint8Array(value);
    bad[0] ^= 0x20; // "value 5" becomes "Value 5"
    expect(db.query("UPDATE history SET value = ?1 WHERE key = ?2").run(bad, enc.encode("k5")).changes).toBe(
      1,
    );
  } finally {
    db.close();
  }
}

/** `alarm list` with the CORRUPT alarm raised. */
export const CORRUPT_ALARM = /^memberID:\d+ alarm:CORRUPT \n$/;
