/**
 * Store-level throughput: what one put, one point get and one 100-key range cost inside
 * the store, without gRPC or the log. Run: `bun bench/store-bench.ts [keys]`.
 */
import { create } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InternalRaftRequestSchema } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { PutRequestSchema, RangeRequestSchema } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "../store/mvcc.ts";
import { machine } from "../tests/store/helpers.ts";

const KEYS = Number(process.argv[2] ?? 100_000);
const BATCH = 64;
const VALUE = new Uint8Array(256).fill(120);
const enc = new TextEncoder();
// the load generator's key shape: "/b/" + zero-padded index
const keyOf = (i: number) => enc.encode(`/b/${String(i).padStart(6, "0")}`);

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), "etcdts-store-bench-"));
  const path = join(dir, "store.db");
  let store = MvccStore.open(path);
  try {
    // like the put-64c workload: random keys of a 100k key space into an empty store
    const randomPuts = Math.min(30_000, KEYS);
    report(
      "random-key put into empty store (batches of 64)",
      randomPuts,
      () => randomFill(store, randomPuts),
    );
    report("sequential put (batches of 64)", KEYS, () => loadKeys(store));
    const rss = process.memoryUsage().rss;
    console.log(`rss after ${KEYS} keys x ${VALUE.length} B: ${(rss / 2 ** 20).toFixed(1)} MiB`);
    console.log(`db size: ${(store.dbSize() / 2 ** 20).toFixed(1)} MiB`);
    report("overwrite put (batches of 64)", KEYS, () => overwrite(store));
    const gets = 200_000;
    report("point get", gets, () => pointGets(store, gets));
    const ranges = 5_000;
    report("100-key range", ranges, () => ranges100(store, ranges));
    const t = performance.now();
    const h = store.hashKV(0n);
    console.log(
      `hashKV over ${KEYS * 2} revisions: ${(performance.now() - t).toFixed(0)} ms`,
      "code" in h ? h : "",
    );
    const c = performance.now();
    const [compacted] = machine(store).applyBatch([{
      index: store.appliedIndex() + 1n,
      term: 1n,
      request: create(InternalRaftRequestSchema, { compaction: { revision: store.currentRevision() } }),
    }]);
    if (!compacted.ok) throw new Error(compacted.error.message);
    console.log(`compaction of ${KEYS} superseded revisions: ${(performance.now() - c).toFixed(0)} ms`);
    console.log(`rss at end: ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`);
    store.close();
    const o = performance.now();
    store = MvccStore.open(path);
    console.log(
      `reopen (key index rebuilt from ${KEYS} revisions): ${(performance.now() - o).toFixed(0)} ms`,
    );
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints wall-clock rate and CPU time per operation (the steadier figure on a shared box). */
function report(name: string, n: number, run: () => void): void {
  const t = performance.now();
  const cpu = process.cpuUsage();
  run();
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  const cpuUs = (used.user + used.system) / n;
  console.log(
    `${name}: ${Math.round(n / (ms / 1000)).toLocaleString("en")}/s, ${
      ((ms * 1000) / n).toFixed(2)
    } µs wall, ${cpuUs.toFixed(2)} µs CPU each`,
  );
}

function loadKeys(store: MvccStore): void {
  writeAll(store, KEYS, (i) => i);
}

function randomFill(store: MvccStore, n: number): void {
  let x = 12345;
  // a fixed-seed LCG: the same "random" keys every run
  writeAll(store, n, () => (x = (x * 1103515245 + 12345) % 2 ** 31) % KEYS);
}

function overwrite(store: MvccStore): void {
  // a fixed stride spreads the writes over the whole key space
  writeAll(store, KEYS, (i) => (i * 7919) % KEYS);
}

function writeAll(store: MvccStore, n: number, keyIndex: (i: number) => number): void {
  let index = store.appliedIndex();
  for (let i = 0; i < n; i += BATCH) {
    const entries = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) {
      const put = create(PutRequestSchema, { key: keyOf(keyIndex(j)), value: VALUE });
      entries.push({ index: ++index, term: 1n, request: create(InternalRaftRequestSchema, { put }) });
    }
    for (const o of machine(store).applyBatch(entries)) if (!o.ok) throw new Error(o.error.message);
  }
}

function pointGets(store: MvccStore, n: number): void {
  for (let i = 0; i < n; i++) {
    const r = machine(store).range(create(RangeRequestSchema, { key: keyOf((i * 7919) % KEYS) }));
    if ("code" in r || r.kvs.length !== 1) throw new Error("missing key");
  }
}

function ranges100(store: MvccStore, n: number): void {
  for (let i = 0; i < n; i++) {
    const start = (i * 7919) % (KEYS - 100);
    const r = machine(store).range(
      create(RangeRequestSchema, { key: keyOf(start), rangeEnd: keyOf(start + 100) }),
    );
    if ("code" in r || r.kvs.length !== 100) throw new Error("short range");
  }
}

main();
