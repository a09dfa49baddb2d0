/**
 * Raft log compaction and snapshot shipping on real processes: with a small
 * --snapshot-count the leader forgets old entries, so a member that was down, or one added
 * later, can only catch up from a copy of the store sent by the leader. A watcher on the
 * lagging member sees every event across the install, none twice.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { Auth, KV, Maintenance, Watch } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import { cleanup, startCluster, waitFor } from "../harness.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function putMany(endpoints: readonly string[], prefix: string, n: number): Promise<void> {
  const c = new Client({ endpoints: [...endpoints], callTimeoutMs: 5000 });
  const kv = c.service(KV);
  try {
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < n; i += 8) {
        // A member just stopped may have been the leader: retry through the election.
        for (let attempt = 0;; attempt++) {
          try {
            await kv.put({ key: enc(`${prefix}${i}`), value: enc(String(i)) });
            break;
          } catch (e) {
            if (attempt >= 50) throw e;
            await Bun.sleep(100);
          }
        }
      }
    }));
  } finally {
    c.close();
  }
}

async function count(endpoint: string, prefix: string): Promise<bigint> {
  const c = new Client({ endpoints: [endpoint], callTimeoutMs: 3000 });
  try {
    const end = enc(prefix);
    end[end.length - 1]++;
    const r = await c.service(KV).range({
      key: enc(prefix),
      rangeEnd: end,
      countOnly: true,
      serializable: true,
    });
    return r.count;
  } finally {
    c.close();
  }
}

/**
 * A 3-member cluster that snapshots every 100 entries and keeps 20 after, with a leader
 * elected, then member 2 stopped: `live` are the other two's endpoints.
 */
async function withMember2Down(extraArgs: readonly string[] = []) {
  const cluster = await startCluster(3, {
    extraArgs: ["--snapshot-count", "100", "--experimental-snapshot-catchup-entries", "20", ...extraArgs],
  });
  const { endpoints } = cluster;
  await waitFor("a leader", async () => {
    await putMany(endpoints, "warm/", 1);
    return true;
  });
  await cluster.members[2].stop();
  return { cluster, endpoints, live: endpoints.slice(0, 2) };
}

function walSegments(dataDir: string): number {
  return fs.readdirSync(path.join(dataDir, "member", "wal")).filter((f) => f.endsWith(".wal")).length;
}

test(
  "a member that fell behind the compacted log catches up from a snapshot; so does a new one",
  async () => {
    // Member 2 goes down; a watcher on it will have to resume after the restart.
    const { cluster, endpoints, live } = await withMember2Down(["--max-wals", "2"]);
    await putMany(live, "k/", 600);
    for (const ep of live) expect(await count(ep, "k/")).toBe(600n);

    // Restarted, it is far behind the leader's first retained entry: only a snapshot helps.
    await cluster.restart(2);
    await waitFor("member 2 to catch up", async () => (await count(endpoints[2], "k/")) === 600n, {
      timeoutMs: 30_000,
    });
    expect(cluster.members[2].stderr()).toContain("installed a snapshot from the leader");

    // A watch on the caught-up member from an old revision replays the history it received.
    const wc = new Client({ endpoints: [endpoints[2]] });
    const stream = wc.service(Watch).watch();
    stream.send({
      requestUnion: {
        case: "createRequest",
        value: { key: enc("k/"), rangeEnd: enc("k0"), startRevision: 2n },
      },
    });
    const seen = new Set<string>();
    let created = false;
    for await (const r of stream) {
      if (r.created) created = true;
      for (const ev of r.events) {
        const k = dec(ev.kv!.key);
        expect(seen.has(k)).toBe(false);
        seen.add(k);
      }
      if (seen.size === 600) break;
    }
    expect(created).toBe(true);
    wc.close();

    // A member added now also starts from a snapshot.
    const added = await cluster.addMember();
    await waitFor(
      "the new member to catch up",
      async () => (await count(added.member.endpoint, "k/")) === 600n,
      {
        timeoutMs: 30_000,
      },
    );
    expect(added.member.stderr()).toContain("installed a snapshot from the leader");
    await putMany(endpoints, "after/", 50);
    for (const ep of [...endpoints]) {
      await waitFor(
        `${ep} to apply the writes after the snapshot`,
        async () => (await count(ep, "after/")) === 50n,
      );
    }

    // Every member agrees on the whole history.
    const hashes = new Set<number>();
    for (const ep of endpoints) {
      const c = new Client({ endpoints: [ep], callTimeoutMs: 3000 });
      const st = await c.service(Maintenance).status({});
      const h = await c.service(Maintenance).hashKV({ revision: st.header!.revision });
      hashes.add(h.hash);
      c.close();
    }
    expect(hashes.size).toBe(1);
    // The log was compacted: old segments were released.
    for (const m of cluster.members) {
      expect(walSegments(m.dataDir)).toBeLessThanOrEqual(3);
    }

    // A member restarts from its own snapshot mark (membership included) and keeps serving.
    await cluster.members[0].kill9();
    await cluster.restart(0);
    await putMany(endpoints, "restart/", 20);
    await waitFor(
      "member 0 to apply writes after its restart",
      async () => (await count(endpoints[0], "restart/")) === 20n,
    );
  },
  120_000,
);

test(
  "a running member that catches up from a snapshot enforces the auth enabled while it was behind",
  async () => {
    const { cluster, endpoints, live } = await withMember2Down();
    // Member 2 may have led: wait for the other two to have a leader.
    await putMany(live, "warm/", 1);
    const admin = new Client({ endpoints: [...live], callTimeoutMs: 5000 });
    const auth = admin.service(Auth);
    await auth.userAdd({ name: "root", password: "pw" });
    await auth.userGrantRole({ user: "root", role: "root" });
    await auth.authEnable({});
    admin.close();
    // Enough entries after the enable that member 2 can only catch up from a snapshot.
    const root = new Client({
      endpoints: [...live],
      callTimeoutMs: 5000,
      user: { name: "root", password: "pw" },
    });
    for (let i = 0; i < 300; i++) await root.service(KV).put({ key: enc(`k/${i}`), value: enc("v") });
    root.close();

    // It restarts with auth off (its own store) and learns auth is on from the snapshot
    // while it runs: from then on, a caller without credentials is refused there too (a
    // member that kept its old auth image answers it forever).
    await cluster.restart(2);
    const anonymous = new Client({ endpoints: [endpoints[2]], callTimeoutMs: 3000 });
    try {
      await waitFor("member 2 to refuse a caller without credentials", async () => {
        try {
          await anonymous.service(KV).range({ key: enc("k/0"), serializable: true });
          return false;
        } catch (e) {
          return (e as Error).message === "etcdserver: user name is empty";
        }
      }, { timeoutMs: 30_000 });
    } finally {
      anonymous.close();
    }
    expect(cluster.members[2].stderr()).toContain("installed a snapshot from the leader");
    const member2 = new Client({
      endpoints: [endpoints[2]],
      callTimeoutMs: 3000,
      user: { name: "root", password: "pw" },
    });
    try {
      await waitFor("member 2 to serve the last write", async () => {
        const r = await member2.service(KV).range({ key: enc("k/299"), serializable: true });
        return r.kvs.length === 1;
      });
    } finally {
      member2.close();
    }
  },
  120_000,
);
