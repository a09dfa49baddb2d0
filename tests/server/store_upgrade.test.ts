/**
 * A member whose store an earlier version wrote (the history layout before schema 6)
 * starts on it: the store is converted once, said so in the log, and holds what it held,
 * to the byte (HashKV, every revision of every key, tombstones and leases included).
 */
import { afterAll, expect, test } from "bun:test";
import * as path from "node:path";
import { cleanup, etcdts, type ServerProcess, startServer } from "../harness.ts";
import { toOlderLayout } from "../store/history_rows.ts";

afterAll(cleanup);

async function ok(server: ServerProcess, args: string[]): Promise<string> {
  const r = await etcdts(server.endpoint, args);
  if (r.code !== 0) throw new Error(`etcdts ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** What the member holds: HashKV, and every key at every revision from 2 to the head. */
async function contents(server: ServerProcess): Promise<string[]> {
  const hash = JSON.parse(await ok(server, ["endpoint", "hashkv", "-w", "json"]))[0].HashKV;
  const out = [`hash ${hash.hash}`];
  const head = Number(JSON.parse(await ok(server, ["get", "k", "-w", "json"])).header.revision);
  for (let rev = 2; rev <= head; rev++) {
    out.push(await ok(server, ["get", "", "--from-key", "--rev", `${rev}`, "-w", "json"]));
  }
  return out.map((s) => s.replace(/"raft_term":\d+/g, ""));
}

for (const version of [4, 5] as const) {
  test(`a store of schema version ${version} is converted at start and holds what it held`, async () => {
    const first = await startServer("etcdts");
    const lease = /^lease ([0-9a-f]+) granted/.exec(await ok(first, ["lease", "grant", "600"]))![1];
    await ok(first, ["put", "k", "v1"]);
    await ok(first, ["put", "k", "v2"]);
    await ok(first, ["put", "leased", "x", "--lease", lease]);
    await ok(first, ["put", "gone", "y"]);
    await ok(first, ["del", "gone"]);
    const before = await contents(first);
    expect(await first.stop()).toBe(0);

    toOlderLayout(path.join(first.dataDir, "member", "snap", "db"), version);
    const again = await startServer("etcdts", { dataDir: first.dataDir });
    try {
      expect(again.stderr()).toContain(`"msg":"converting the store to the current layout, once"`);
      expect(again.stderr()).toContain(`"from-schema-version":${version}`);
      expect(again.stderr()).toContain(`"msg":"converted the store"`);
      expect(await contents(again)).toEqual(before);
      await ok(again, ["put", "k", "v3"]);
      expect(await ok(again, ["get", "k", "--print-value-only"])).toBe("v3\n");
    } finally {
      await again.stop();
    }
  });
}
