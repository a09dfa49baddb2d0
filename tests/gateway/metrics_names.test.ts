/**
 * /metrics against a live etcd 3.4: after the same few operations on a fresh member of
 * each, etcdts exposes every etcd_*, grpc_* and process_* family etcd does, with the same
 * type, and the mvcc counters moved alike. Go's runtime families (go_*, promhttp_*) are not
 * compared: a Bun process has no Go runtime.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, etcdctl, haveRealEtcd, startServer } from "../harness.ts";

afterAll(cleanup);

/** Families etcd shows that etcdts cannot (none today; each entry says why). */
const ALLOWED_MISSING = new Set<string>([]);

async function scrape(kind: "etcdts" | "etcd"): Promise<string> {
  const server = await startServer(kind);
  const ctl = (...args: string[]) => etcdctl(server.endpoint, args);
  await ctl("put", "a", "1");
  await ctl("put", "b", "2");
  await ctl("get", "a");
  await ctl("txn", "--interactive=false");
  await ctl("del", "b");
  return await (await fetch(`${server.clientUrl}/metrics`)).text();
}

function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^# TYPE ((?:etcd|grpc|process)_\S+) (\S+)$/.exec(line);
    if (m !== null) out.set(m[1], m[2]);
  }
  return out;
}

/**
 * Families whose label names may differ: etcd's v2 store counters carry an `action` label
 * only once etcd's own bootstrap wrote and read its v2 store, which etcdts does not have.
 */
const LABELS_MAY_DIFFER = new Set(["etcd_debugging_store_reads_total", "etcd_debugging_store_writes_total"]);

/** Each family's label names (a histogram's `le` aside), from its samples. */
function labelNames(text: string): Map<string, string> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const m = /^((?:etcd|grpc|process)_[\w:]*?)(_bucket|_sum|_count)?(?:\{([^}]*)\})? /.exec(line);
    if (m === null) continue;
    const name = m[1].endsWith("_total") || m[2] === undefined ? m[1] + (m[2] ?? "") : m[1];
    const set = out.get(name) ?? new Set<string>();
    for (const [, k] of (m[3] ?? "").matchAll(/(\w+)="/g)) if (k !== "le") set.add(k);
    out.set(name, set);
  }
  return new Map([...out].map(([n, s]) => [n, [...s].sort().join(",")]));
}

function value(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
}

describe.skipIf(!haveRealEtcd())("/metrics names against etcd 3.4", () => {
  test("the same families with the same types; mvcc counters move alike", async () => {
    const [ours, theirs] = await Promise.all([scrape("etcdts"), scrape("etcd")]);
    const mine = families(ours);
    const etcd = families(theirs);
    const missing = [...etcd.keys()].filter((n) => !mine.has(n) && !ALLOWED_MISSING.has(n)).sort();
    const extra = [...mine.keys()].filter((n) => !etcd.has(n)).sort();
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
    const typesDiffer = [...etcd].filter(([n, t]) => mine.has(n) && mine.get(n) !== t);
    expect(typesDiffer).toEqual([]);
    const myLabels = labelNames(ours);
    const labelsDiffer = [...labelNames(theirs)].filter(([n, l]) =>
      myLabels.has(n) && myLabels.get(n) !== l && !LABELS_MAY_DIFFER.has(n)
    ).map(([n, l]) => `${n}: etcd {${l}}, etcdts {${myLabels.get(n)}}`);
    expect(labelsDiffer).toEqual([]);
    for (const n of ["etcd_mvcc_put_total", "etcd_mvcc_range_total", "etcd_mvcc_delete_total"]) {
      expect([n, value(ours, n)]).toEqual([n, value(theirs, n)]);
    }
  }, 30_000);
});
