/**
 * How long defrag and snapshot hold the event loop: fills a store to ~1 GiB, deletes 90%
 * of the keys and compacts, then runs a snapshot copy and a defrag while a read loop
 * (one point range per event-loop turn) records the longest gap between two reads.
 * For comparison it also times one blocking VACUUM of the same file (what a whole-file
 * rewrite, as etcd's bbolt defrag, costs the member).
 *
 * Run: `bun bench/defrag-bench.ts [MiB]` (default 1024).
 */
import { create } from "@bufbuild/protobuf";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InternalRaftRequestSchema } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import {
  CompactionRequestSchema,
  DeleteRangeRequestSchema,
  PutRequestSchema,
  RangeRequestSchema,
} from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { Defragmenter } from "../server/defrag.ts";
import { MvccStore } from "../store/mvcc.ts";
import type { Entry as LogEntry } from "../server/apply/state_machine.ts";
import { machine } from "../tests/store/helpers.ts";
import { copyStore } from "../store/snapshot.ts";

const MIB = 2 ** 20;
const TARGET = Number(process.argv[2] ?? 1024) * MIB;
const VALUE = new Uint8Array(32 * 1024).fill(7);
const enc = new TextEncoder();
const keyOf = (i: number) => enc.encode(`/defrag/${String(i).padStart(8, "0")}`);

let index = 1n;
function entry(request: LogEntry["request"]): LogEntry {
  return { index: index++, term: 1n, request };
}

/** Runs `work` while a read loop measures the longest pause between two reads. */
async function withReadLoop(
  store: MvccStore,
  work: () => Promise<unknown>,
): Promise<{ ms: number; reads: number }> {
  const state = machine(store);
  let longest = 0;
  let reads = 0;
  let last = performance.now();
  let done = false;
  const req = create(RangeRequestSchema, { key: keyOf(5), serializable: true });
  const loop = (async () => {
    for (;;) {
      // Measured on every wake-up, also the last one after the work ended.
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      if (done) break;
      state.range(req);
      reads++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  await work();
  done = true;
  await loop;
  return { ms: longest, reads };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "etcdts-defrag-bench-"));
  const store = MvccStore.open(join(dir, "db"));
  const state = machine(store);
  try {
    let t = performance.now();
    let n = 0;
    while (store.dbSize() < TARGET) {
      const batch: LogEntry[] = [];
      for (let i = 0; i < 64; i++) {
        batch.push(entry(create(InternalRaftRequestSchema, {
          put: create(PutRequestSchema, { key: keyOf(n++), value: VALUE }),
        })));
      }
      state.applyBatch(batch);
    }
    store.flush();
    console.log(
      `filled ${(store.dbSize() / MIB).toFixed(0)} MiB (${n} keys) in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s`,
    );
    t = performance.now();
    // Keep every tenth key: delete the rest, then compact away their history.
    for (let i = 0; i < n; i += 10) {
      state.applyBatch([entry(create(InternalRaftRequestSchema, {
        deleteRange: create(DeleteRangeRequestSchema, { key: keyOf(i + 1), rangeEnd: keyOf(i + 10) }),
      }))]);
    }
    state.applyBatch([entry(create(InternalRaftRequestSchema, {
      compaction: create(CompactionRequestSchema, { revision: store.currentRevision() }),
    }))]);
    store.flush();
    console.log(
      `deleted 90% and compacted in ${((performance.now() - t) / 1000).toFixed(1)} s: file ${
        (store.dbSize() / MIB).toFixed(0)
      } MiB, in use ${(store.dbSizeInUse() / MIB).toFixed(0)} MiB`,
    );

    t = performance.now();
    const snap = await withReadLoop(store, () => copyStore(store.path(), join(dir, "snapshot.db")));
    console.log(
      `snapshot copy: ${((performance.now() - t) / 1000).toFixed(1)} s, longest read stall ${
        snap.ms.toFixed(1)
      } ms (${snap.reads} reads)`,
    );

    // Keep the fragmented file for the blocking comparison below.
    store.checkpoint();
    copyFileSync(join(dir, "db"), join(dir, "fragmented.db"));
    const before = store.dbSize();
    t = performance.now();
    const defrag = new Defragmenter(store);
    let result: Awaited<ReturnType<Defragmenter["run"]>> | null = null;
    const d = await withReadLoop(store, async () => (result = await defrag.run()));
    console.log(
      `defrag: ${(before / MIB).toFixed(0)} → ${(store.dbSize() / MIB).toFixed(0)} MiB in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s, longest read stall ${d.ms.toFixed(1)} ms (${d.reads} reads; longest step ${
        result!.longestStepMs.toFixed(1)
      } ms)`,
    );

    // The blocking alternative (a whole-file rewrite) on a copy of the fragmented file.
    const copy = MvccStore.open(join(dir, "fragmented.db"));
    t = performance.now();
    copy.vacuumFull();
    console.log(
      `one blocking VACUUM of the same fragmented file: ${((performance.now() - t) / 1000).toFixed(2)} s`,
    );
    copy.close();
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
