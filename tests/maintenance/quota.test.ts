/**
 * Quota and alarms: past --quota-backend-bytes the NOSPACE alarm is raised, writes fail
 * with etcd's error while reads, deletes and compaction work, /health turns false; after
 * compact + defrag + disarm writes are accepted again. Alarm output matches etcdctl's.
 */
import { afterAll, expect, test } from "bun:test";
import { cleanup, etcdctl, etcdts, haveRealEtcd, startServer, waitFor } from "../harness.ts";

afterAll(cleanup);

const NOSPACE = "Error: etcdserver: mvcc: database space exceeded\n";
const big = "x".repeat(100_000);

async function health(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${url}/health`);
  return { status: r.status, body: await r.text() };
}

test(
  "NOSPACE: writes refused, reads/deletes/compaction work, compact + defrag + disarm recovers",
  async () => {
    const server = await startServer("etcdts", { extraArgs: ["--quota-backend-bytes", "400000"] });
    const ep = server.endpoint;
    expect((await etcdts(ep, ["alarm", "list"])).stdout).toBe("");
    let rev = 0;
    // Fill until the quota refuses a put.
    for (let i = 0; i < 20; i++) {
      const r = await etcdts(ep, ["put", `big/${i}`, big]);
      if (r.code !== 0) {
        expect(r.stderr).toBe(NOSPACE);
        rev = i;
        break;
      }
    }
    expect(rev).toBeGreaterThan(0);

    const list = await etcdts(ep, ["alarm", "list"]);
    expect(list.stdout).toMatch(/^memberID:\d+ alarm:NOSPACE \n$/);
    expect(await health(server.clientUrl)).toEqual({
      status: 503,
      body: `{"health":"false"}\n`, // Go's http.Error adds the newline
    });
    const status = await etcdts(ep, ["endpoint", "status"]);
    expect(status.stdout).toContain("alarm:NOSPACE");

    // Small writes are refused too (the alarm, not the size, decides now); so are txns that put.
    expect((await etcdts(ep, ["put", "small", "v"])).stderr).toBe(NOSPACE);
    const txn = await etcdts(ep, ["txn"], { stdin: "\nput t v\n\n\n" });
    expect(txn.stderr).toBe(NOSPACE);
    // Reads, deletes and compaction still work.
    expect((await etcdts(ep, ["get", "big/0", "--keys-only"])).stdout).toBe("big/0\n\n");
    const del = await etcdts(ep, ["del", "big/", "--prefix"]);
    expect(del.code).toBe(0);
    const head = await etcdts(ep, ["get", "x", "-w", "json"]);
    const current = JSON.parse(head.stdout).header.revision;
    expect((await etcdts(ep, ["compaction", String(current)])).code).toBe(0);
    // Still refused: the alarm stays until disarmed.
    expect((await etcdts(ep, ["put", "small", "v"])).stderr).toBe(NOSPACE);

    const before = await dbSize(ep);
    const defrag = await etcdts(ep, ["defrag"]);
    expect(defrag.stdout).toBe(`Finished defragmenting etcd member[${ep}]\n`);
    const after = await dbSize(ep);
    expect(after).toBeLessThan(before);
    expect(after).toBeLessThan(400_000);

    const disarm = await etcdts(ep, ["alarm", "disarm"]);
    expect(disarm.stdout).toBe(list.stdout);
    expect((await etcdts(ep, ["alarm", "disarm"])).stdout).toBe("");
    expect((await etcdts(ep, ["put", "small", "v"])).stdout).toBe("OK\n");
    expect(await health(server.clientUrl)).toEqual({ status: 200, body: `{"health":"true"}` });
    await server.stop();
  },
  60_000,
);

test("the alarm survives a restart (it lives in the store)", async () => {
  const server = await startServer("etcdts", { extraArgs: ["--quota-backend-bytes", "300000"] });
  for (let i = 0; i < 10; i++) {
    if ((await etcdts(server.endpoint, ["put", `k${i}`, big])).code !== 0) break;
  }
  await waitFor("the alarm", async () => (await etcdts(server.endpoint, ["alarm", "list"])).stdout !== "");
  await server.stop();
  const again = await startServer("etcdts", { dataDir: server.dataDir, healthCheck: "tcp" });
  await waitFor("a leader", async () => (await etcdts(again.endpoint, ["get", "x"])).code === 0);
  expect((await etcdts(again.endpoint, ["alarm", "list"])).stdout).toMatch(/alarm:NOSPACE/);
  expect((await etcdts(again.endpoint, ["put", "a", "b"])).stderr).toBe(NOSPACE);
  await again.stop();
}, 60_000);

test.skipIf(!haveRealEtcd())(
  "alarm list/disarm print what the real etcdctl prints (against etcdts)",
  async () => {
    const server = await startServer("etcdts", { extraArgs: ["--quota-backend-bytes", "300000"] });
    for (let i = 0; i < 10; i++) {
      if ((await etcdts(server.endpoint, ["put", `k${i}`, big])).code !== 0) break;
    }
    for (
      const args of [["alarm", "list"], ["alarm", "list", "-w", "json"], ["alarm", "list", "-w", "fields"]]
    ) {
      const ours = await etcdts(server.endpoint, args);
      const theirs = await etcdctl(server.endpoint, args);
      expect(ours.stdout).toBe(theirs.stdout);
      expect(ours.code).toBe(theirs.code);
    }
    const theirs = await etcdctl(server.endpoint, ["put", "a", "b"]);
    expect(theirs.stderr.split("\n").at(-2)).toBe(NOSPACE.trim());
    const disarm = await etcdctl(server.endpoint, ["alarm", "disarm"]);
    expect(disarm.stdout).toMatch(/^memberID:\d+ alarm:NOSPACE \n$/);
    expect((await etcdts(server.endpoint, ["alarm", "list"])).stdout).toBe("");
    await server.stop();
  },
  60_000,
);

async function dbSize(ep: string): Promise<number> {
  const r = await etcdts(ep, ["endpoint", "status", "-w", "json"]);
  return Number(JSON.parse(r.stdout)[0].Status.dbSize);
}
