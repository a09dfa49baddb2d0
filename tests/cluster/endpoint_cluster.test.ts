/**
 * `endpoint status|health|hashkv --cluster` against a 3-member etcdts cluster and a
 * 3-member real etcd cluster, each read with our CLI and with the real etcdctl: the same
 * columns and fields, one row per member, exactly one leader, equal hashes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as path from "node:path";
import {
  cleanup,
  etcdctl,
  etcdts,
  freePort,
  haveRealEtcd,
  type RunResult,
  startCluster,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

/** Three real etcd members on loopback; resolves with their client endpoints. */
async function startEtcdCluster(): Promise<string[]> {
  const dir = tempDir("etcd-cluster-");
  const ports = await Promise.all(
    [0, 1, 2].map(async () => ({ client: await freePort(), peer: await freePort() })),
  );
  const initial = ports.map((p, i) => `e${i}=http://127.0.0.1:${p.peer}`).join(",");
  const members = await Promise.all(ports.map((p, i) =>
    startServer("etcd", {
      dataDir: path.join(dir, `e${i}`),
      clientPort: p.client,
      healthCheck: "tcp",
      extraArgs: [
        "--name",
        `e${i}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${p.peer}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${p.peer}`,
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        "new",
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
      ],
    })
  ));
  return members.map((m) => m.endpoint);
}

type Cli = (endpoint: string, args: readonly string[]) => Promise<RunResult>;
const clis: [string, Cli][] = [["etcdts", etcdts], ["etcdctl", etcdctl]];
const servers: Record<string, string> = {};

/** The same history on both clusters, so that even the hashes agree. */
async function fill(all: string): Promise<void> {
  await waitFor("a leader", async () => (await etcdctl(all, ["put", "k0", "v0"])).code === 0);
  for (let i = 1; i < 10; i++) expect((await etcdctl(all, ["put", `k${i}`, `v${i}`])).code).toBe(0);
  await etcdctl(all, ["del", "k3"]);
}

/** A table's rows as cells (borders dropped). */
function tableRows(out: string): string[][] {
  return out.trim().split("\n").filter((l) => l.startsWith("|")).map((l) =>
    l.slice(1, -1).split("|").map((c) => c.trim())
  );
}

/** The field names of a JSON value, recursively (values dropped): its shape. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, shape(x)]),
    );
  }
  return typeof v;
}

describe.skipIf(!haveRealEtcd())("endpoint --cluster on 3 members", () => {
  beforeAll(async () => {
    const [ours, real] = await Promise.all([startCluster(3), startEtcdCluster()]);
    servers.etcdts = ours.endpoints.join(",");
    servers.etcd = real.join(",");
    await Promise.all([fill(servers.etcdts), fill(servers.etcd)]);
    // Every member applied the delete (serializable reads, one member at a time).
    for (const ep of [...ours.endpoints, ...real]) {
      await waitFor(
        `${ep} to catch up`,
        async () => (await etcdctl(ep, ["get", "k9", "--consistency=s"])).stdout !== "",
      );
    }
  }, 120_000);

  test("status -w table: etcd's columns, a row per member, one leader", async () => {
    const tables: Record<string, string[][]> = {};
    for (const [cli, run] of clis) {
      for (const [server, eps] of Object.entries(servers)) {
        const r = await run(eps.split(",")[0], ["endpoint", "status", "--cluster", "-w", "table"]);
        expect({ cli, server, r }).toEqual({ cli, server, r: { ...r, code: 0 } });
        const rows = tableRows(r.stdout);
        tables[`${cli} → ${server}`] = rows;
        expect(rows).toHaveLength(4);
        const leaderCol = rows[0].indexOf("IS LEADER");
        expect(rows.slice(1).filter((row) => row[leaderCol] === "true")).toHaveLength(1);
        expect(new Set(rows.slice(1).map((row) => row[rows[0].indexOf("ID")])).size).toBe(3);
      }
    }
    const headers = Object.values(tables).map((t) => t[0]);
    for (const h of headers) expect(h).toEqual(headers[0]);
    expect(headers[0]).toEqual([
      "ENDPOINT",
      "ID",
      "VERSION",
      "DB SIZE",
      "IS LEADER",
      "IS LEARNER",
      "RAFT TERM",
      "RAFT INDEX",
      "RAFT APPLIED INDEX",
      "ERRORS",
    ]);
  });

  test("status -w json: the same fields per member", async () => {
    const shapes: unknown[] = [];
    for (const [, run] of clis) {
      for (const eps of Object.values(servers)) {
        const r = await run(eps.split(",")[0], ["endpoint", "status", "--cluster", "-w", "json"]);
        expect(r.code).toBe(0);
        const list = JSON.parse(r.stdout.replace(/:(\d{16,})/g, ':"$1"')) as {
          Status: { leader: string; header: { member_id: string } };
        }[];
        expect(list).toHaveLength(3);
        expect(list.filter((s) => String(s.Status.leader) === String(s.Status.header.member_id)))
          .toHaveLength(1);
        // Status.dbSizeQuota is etcd 3.5's (etcdts reports it; 3.4 has no such field).
        for (const s of list) delete (s.Status as { dbSizeQuota?: unknown }).dbSizeQuota;
        shapes.push(shape(list));
      }
    }
    for (const s of shapes) expect(s).toEqual(shapes[0]);
  });

  test("health: one healthy line per member", async () => {
    for (const [, run] of clis) {
      for (const eps of Object.values(servers)) {
        const r = await run(eps.split(",")[0], ["endpoint", "health", "--cluster"]);
        expect(r.code).toBe(0);
        const lines = r.stderr.trim().split("\n").concat(r.stdout.trim().split("\n")).filter((l) => l !== "");
        expect(lines).toHaveLength(3);
        for (const l of lines) {
          expect(l).toMatch(
            /^http:\/\/127\.0\.0\.1:\d+ is healthy: successfully committed proposal: took = \S+$/,
          );
        }
      }
    }
  });

  test("hashkv: one line per member, every member and both servers agree", async () => {
    const hashes = new Set<string>();
    for (const [, run] of clis) {
      for (const eps of Object.values(servers)) {
        const r = await run(eps.split(",")[0], ["endpoint", "hashkv", "--cluster"]);
        expect(r.code).toBe(0);
        const lines = r.stdout.trim().split("\n");
        expect(lines).toHaveLength(3);
        for (const l of lines) {
          const m = /^http:\/\/127\.0\.0\.1:\d+, (\d+)$/.exec(l);
          expect(m).not.toBeNull();
          hashes.add(m![1]);
        }
      }
    }
    // etcd's HashKV algorithm over the same history: the same number everywhere.
    expect(hashes.size).toBe(1);
  });
});
