/**
 * Snapshots: `snapshot save` under write load, `snapshot status`, `snapshot restore` into
 * a single member and into a 3-member cluster, and refusal of damaged files.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import {
  cleanup,
  etcdctl,
  etcdts,
  ETCDTS_BIN,
  haveRealEtcd,
  run,
  type ServerProcess,
  startCluster,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** `etcdts ARGS` without an endpoint (snapshot status/restore work on files). */
function offline(args: readonly string[]) {
  return run([ETCDTS_BIN, ...args]);
}

async function statusOf(
  file: string,
): Promise<{ hash: number; revision: number; totalKey: number; totalSize: number }> {
  const r = await offline(["snapshot", "status", file, "-w", "json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe("snapshot", () => {
  let server: ServerProcess;
  let dir: string;
  let file: string;
  const acked = new Map<string, bigint>();

  test("save under write load: the file's revision splits the acknowledged writes exactly", async () => {
    server = await startServer("etcdts");
    dir = tempDir("etcdts-snap-");
    file = path.join(dir, "snap.db");
    const client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
    const kv = client.service(KV);
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const key = `load/${w}/${i}`;
        const r = await kv.put({ key: enc(key), value: enc(`v${i}`) });
        acked.set(key, r.header!.revision);
      }
    });
    await waitFor("500 writes before the snapshot", () => acked.size >= 500, { timeoutMs: 30_000 });
    const saved = await etcdts(server.endpoint, ["snapshot", "save", file]);
    const during = acked.size;
    await waitFor("more writes after the snapshot", () => acked.size >= during + 200, { timeoutMs: 30_000 });
    stop = true;
    await Promise.all(writers);
    client.close();

    expect(saved.stderr.split("\n").filter((l) => l.startsWith("Error")).join("\n")).toBe("");
    expect(saved.code).toBe(0);
    expect(saved.stdout).toBe(`Snapshot saved at ${file}\n`);
    const msgs = saved.stderr.trim().split("\n").map((l) => JSON.parse(l).msg);
    // etcdctl 3.4's lines, its client's two about the stream included.
    expect(msgs).toEqual([
      "created temporary db file",
      "opened snapshot stream; downloading",
      "fetching snapshot",
      "completed snapshot read; closing",
      "fetched snapshot",
      "saved",
    ]);
    expect(fs.existsSync(`${file}.part`)).toBe(false);
    expect(fs.statSync(file).size % 512).toBe(32);

    const st = await statusOf(file);
    const rev = BigInt(st.revision);
    expect(rev).toBeGreaterThan(1n);
    expect(st.totalSize).toBe(fs.statSync(file).size - 32);

    // Restore and serve it: every key acknowledged at or below the snapshot's revision is
    // there at that revision; nothing newer is.
    const dataDir = path.join(dir, "restored");
    const restored = await offline([
      "snapshot",
      "restore",
      file,
      "--data-dir",
      dataDir,
    ]);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toBe("");
    expect(fs.existsSync(path.join(dataDir, "member", "snap", "db"))).toBe(true);
    // The new member's first log too, as etcd's restore writes its WAL (restore_identity.test.ts).
    expect(fs.existsSync(path.join(dataDir, "member", "wal"))).toBe(true);

    const again = await startServer("etcdts", { dataDir });
    const c2 = new Client({ endpoints: [again.endpoint], callTimeoutMs: 10_000 });
    const all = await c2.service(KV).range({ key: enc("load/"), rangeEnd: enc("load0") });
    const found = new Map(all.kvs.map((x) => [dec(x.key), x.modRevision]));
    let missing = 0;
    let extra = 0;
    for (const [key, r] of acked) {
      if (r <= rev && found.get(key) !== r) missing++;
      if (r > rev && found.has(key)) extra++;
    }
    expect({ missing, extra }).toEqual({ missing: 0, extra: 0 });
    expect(all.header!.revision).toBe(rev);
    // The restored member takes writes at the next revision.
    const put = await c2.service(KV).put({ key: enc("after"), value: enc("restore") });
    expect(put.header!.revision).toBe(rev + 1n);
    c2.close();
    await again.stop();
  }, 120_000);

  test("status in every format", async () => {
    const st = await statusOf(file);
    const simple = await offline(["snapshot", "status", file]);
    const size = (await offline(["snapshot", "status", file, "-w", "table"])).stdout;
    expect(simple.stdout).toMatch(
      new RegExp(`^${st.hash.toString(16)}, ${st.revision}, ${st.totalKey}, \\d+ [kM]B\\n$`),
    );
    // The HASH column is as wide as the hash in hex, unpadded as etcdctl prints it: 7 digits
    // for one hash in 16.
    expect(size).toMatch(/^\| +HASH +\| REVISION \| TOTAL KEYS \| TOTAL SIZE \|$/m);
    expect(size).toMatch(
      new RegExp(`^\\| +${st.hash.toString(16)} +\\| +${st.revision} \\| +${st.totalKey} \\|`, "m"),
    );
    const fields = await offline(["snapshot", "status", file, "-w", "fields"]);
    expect(fields.stdout).toBe(
      `"Hash" : ${st.hash}\n"Revision" : ${st.revision}\n"Keys" : ${st.totalKey}\n"Size" : ${st.totalSize}\n`,
    );
    const pb = await offline(["snapshot", "status", file, "-w", "protobuf"]);
    expect(pb.code).toBe(4);
    expect(pb.stderr).toBe("Error: protobuf not supported as output format\n");
  });

  test("a corrupted, truncated or missing file is refused", async () => {
    const bad = path.join(dir, "corrupt.db");
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(bad, bytes);
    for (
      const args of [["snapshot", "status", bad], [
        "snapshot",
        "restore",
        bad,
        "--data-dir",
        path.join(dir, "x"),
      ]]
    ) {
      const r = await offline(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("snapshot file is corrupted: expected sha256");
    }
    expect(fs.existsSync(path.join(dir, "x"))).toBe(false);

    const cut = path.join(dir, "truncated.db");
    fs.writeFileSync(cut, fs.readFileSync(file).subarray(0, 10_000));
    const restore = await offline(["snapshot", "restore", cut, "--data-dir", path.join(dir, "y")]);
    expect(restore.code).toBe(1);
    // etcdctl's words, nothing added.
    expect(restore.stderr.split("\n").filter((l) => l.startsWith("Error"))).toEqual([
      "Error: snapshot missing hash but --skip-hash-check=false",
    ]);
    const skipped = await offline([
      "snapshot",
      "restore",
      cut,
      "--data-dir",
      path.join(dir, "y"),
      "--skip-hash-check",
    ]);
    expect(skipped.code).toBe(1);
    expect(skipped.stderr).toContain("cannot be restored");
    expect(fs.existsSync(path.join(dir, "y"))).toBe(false);
    const status = await offline(["snapshot", "status", cut]);
    expect(status.code).toBe(1);
    // The real etcdctl says "Error: invalid database" (or faults) on a cut bbolt file.
    expect(status.stderr).toMatch(/^Error: invalid database: meta page 0: .*truncated/);

    const missing = await offline(["snapshot", "status", path.join(dir, "nope.db")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such file or directory");
  });

  test("restore refuses an existing data dir and a bad membership, as etcdctl", async () => {
    const exists = await offline(["snapshot", "restore", file, "--data-dir", dir]);
    expect(exists.stderr.trim().split("\n").at(-1)).toBe(`Error: data-dir "${dir}" exists`);
    expect(exists.code).toBe(1);
    const badName = await offline([
      "snapshot",
      "restore",
      file,
      "--data-dir",
      path.join(dir, "z"),
      "--name",
      "ghost",
    ]);
    expect(badName.stderr).toBe(
      `Error: couldn't find local name "ghost" in the initial cluster configuration\n`,
    );
    expect(badName.code).toBe(1);
  });

  test.skipIf(!haveRealEtcd())(
    "the real etcdctl saves a snapshot from etcdts that our status and restore read",
    async () => {
      const theirs = path.join(dir, "by-etcdctl.db");
      const r = await etcdctl(server.endpoint, ["snapshot", "save", theirs]);
      expect(r.stdout).toBe(`Snapshot saved at ${theirs}\n`);
      expect(r.code).toBe(0);
      const st = await statusOf(theirs);
      expect(st.revision).toBeGreaterThan(1);
      const dataDir = path.join(dir, "from-etcdctl");
      expect((await offline(["snapshot", "restore", theirs, "--data-dir", dataDir])).code).toBe(0);
    },
  );
});

test("a snapshot restored into a 3-member cluster serves its data on every member", async () => {
  const single = await startServer("etcdts");
  const client = new Client({ endpoints: [single.endpoint], callTimeoutMs: 10_000 });
  for (let i = 0; i < 50; i++) await client.service(KV).put({ key: enc(`c/${i}`), value: enc(`v${i}`) });
  await client.service(KV).deleteRange({ key: enc("c/7") });
  client.close();
  const dir = tempDir("etcdts-restore3-");
  const file = path.join(dir, "snap.db");
  expect((await etcdts(single.endpoint, ["snapshot", "save", file])).code).toBe(0);
  await single.stop();

  const { members } = await startCluster(3, { restoreFrom: file });
  const endpoints = members.map((m) => m.endpoint);
  await waitFor("the restored cluster to take a write", async () => {
    const r = await etcdts(endpoints.join(","), ["put", "new", "write"]);
    return r.code === 0;
  }, { timeoutMs: 30_000 });
  for (const ep of endpoints) {
    const got = await etcdts(ep, ["get", "c/", "--prefix", "--keys-only"]);
    expect(got.code).toBe(0);
    expect(got.stdout.split("\n").filter((l) => l !== "").length).toBe(49);
    const one = await etcdts(ep, ["get", "c/42", "--print-value-only"]);
    expect(one.stdout).toBe("v42\n");
    await waitFor(
      `the new write on ${ep}`,
      async () => (await etcdts(ep, ["get", "new"])).stdout === "new\nwrite\n",
    );
  }
  const list = await etcdts(endpoints[0], ["member", "list"]);
  expect(list.stdout.split("\n").filter((l) => l !== "").length).toBe(3);
  for (const m of members) await m.stop();
}, 120_000);
