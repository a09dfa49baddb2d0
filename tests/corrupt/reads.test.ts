/**
 * The reads besides Range, HashKV, snapshots and defrag (integrity.test.ts) are checked
 * too, on real processes, against a member with one flipped byte in k5's stored value: a
 * watcher catching up from an old revision is canceled with the reason instead of being
 * sent the damaged value, and the apply loop, which reads a put's previous value and a
 * txn's compares, answers DataLoss naming the key and revision — the write itself still
 * applies, as on every other member — and raises CORRUPT.
 */
import { afterAll, expect, test } from "bun:test";
import { Client } from "../../client/client.ts";
import { cleanup, etcdts, type ServerProcess, startServer, waitFor } from "../harness.ts";
import { dec, enc, WatchSession } from "../watch/session.ts";
import { CORRUPT_ALARM, flipByte, ok, stoppedMember } from "./damage.ts";

afterAll(cleanup);

const NO_SCRUB = ["--experimental-integrity-scrub-interval=0"];

/** A running member whose k5 is damaged, and what a client is told about it. */
async function damagedMember(): Promise<{ server: ServerProcess; k5: bigint; damage: string }> {
  const { dataDir, k5 } = await stoppedMember(NO_SCRUB);
  flipByte(dataDir);
  const server = await startServer("etcdts", { dataDir, extraArgs: NO_SCRUB });
  return {
    server,
    k5,
    damage: `etcdserver: corrupt store: key "k5" at revision ${k5} does not match its checksum`,
  };
}

async function corruptRaised(server: ServerProcess, foundBy: string, k5: bigint): Promise<void> {
  await waitFor("the CORRUPT alarm", async () => CORRUPT_ALARM.test(await ok(server, ["alarm", "list"])));
  const log = server.stderr();
  expect(log).toContain(`"key":"k5","revision":"${k5}","sub-revision":"0","found-by":"${foundBy}"`);
}

/**
 * What a watcher is told: on the wire, a cancel carrying the reason; through the CLI, what
 * etcdctl 3.4 prints for any cancel by the server (clientv3 closes the watch without it).
 */
async function expectCanceled(server: ServerProcess, from: bigint, damage: string): Promise<void> {
  const client = new Client({ endpoints: [server.endpoint] });
  const session = new WatchSession(client);
  try {
    const created = await session.watch({
      key: enc("k0"),
      rangeEnd: enc("k9"),
      startRevision: from,
      prevKv: true,
    });
    const r = await session.next();
    expect([r.watchId, r.canceled, r.cancelReason, r.events.length]).toEqual([
      created.watchId,
      true,
      damage,
      0,
    ]);
  } finally {
    session.close();
    client.close();
  }
  const watch = await etcdts(server.endpoint, ["watch", "k0", "k9", "--rev", String(from), "--prev-kv"]);
  expect([watch.stdout, watch.stderr]).toEqual(["", "Error: watch is canceled by the server\n"]);
  expect(watch.code).not.toBe(0);
}

test("a watcher catching up over the damaged value is canceled with the reason, not sent it", async () => {
  const { server, k5, damage } = await damagedMember();
  await expectCanceled(server, 1n, damage);
  await corruptRaised(server, "watch", k5);
}, 60_000);

test(
  "a put over the damaged value is answered DataLoss, applies as on every member, raises CORRUPT",
  async () => {
    const { server, k5, damage } = await damagedMember();
    const client = new Client({ endpoints: [server.endpoint] });
    const live = new WatchSession(client);
    try {
      expect((await live.watch({ key: enc("k5"), prevKv: true })).created).toBe(true);
      const put = await etcdts(server.endpoint, ["put", "k5", "new", "--prev-kv"]);
      expect(put.stderr).toBe(`Error: ${damage}\n`);
      expect(put.stdout).toBe("");
      expect(put.code).toBe(1);
      // A live watcher hears of the change, without the damaged previous value.
      const [ev] = (await live.next()).events;
      expect([dec(ev.kv!.value), ev.prevKv]).toEqual(["new", undefined]);
    } finally {
      live.close();
      client.close();
    }
    await corruptRaised(server, "apply", k5);
    // The write made it (the state stays every member's), under a revision of its own.
    const got = JSON.parse(await ok(server, ["get", "k5", "-w", "json"]));
    expect(atob(got.kvs[0].value)).toBe("new");
    expect(BigInt(got.kvs[0].mod_revision)).toBeGreaterThan(k5);
    // A watcher catching up over the put, asking for previous values, is not sent the damaged one.
    await expectCanceled(server, BigInt(got.kvs[0].mod_revision), damage);
  },
  60_000,
);

test("a txn through the log whose compare reads the damaged value is answered DataLoss", async () => {
  const { server, k5, damage } = await damagedMember();
  const txn = await etcdts(server.endpoint, ["txn"], { stdin: 'value("k5") = "value 5"\n\nput k9 x\n\n\n' });
  expect(txn.stderr).toBe(`Error: ${damage}\n`);
  expect(txn.code).toBe(1);
  await corruptRaised(server, "apply", k5);
}, 60_000);
