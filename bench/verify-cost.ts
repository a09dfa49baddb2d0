/**
 * What checking stored values against their checksums costs on the paths that gained it:
 * the apply loop's read of a key's previous value (every put, delete and txn compare) and
 * a watch catch-up's read of history rows. Each is timed in CPU per row with and without
 * the check, in alternating rounds, beside what a whole put costs in the store, so the
 * added share can be read off; and the check alone on one row in a tight loop, the figure a
 * shared machine disturbs least (the A/B difference is within its noise there).
 * Run: `bun bench/verify-cost.ts [keys]` (small: 20k keys of 256 B by default).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { create } from "@bufbuild/protobuf";
import { InternalRaftRequestSchema } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { mismatchOf, STORED_COLUMNS, type StoredRow, verifyRow } from "../store/checksum.ts";
import { KeyIndex } from "../store/key_index.ts";
import { MvccStore } from "../store/mvcc.ts";
import { StateMachine } from "../server/apply/state_machine.ts";
import { KvReader } from "../store/reader.ts";

const KEYS = Number(process.argv[2] ?? 20_000);
const ROUNDS = 5;
const VALUE = new Uint8Array(256).fill(120);
const enc = new TextEncoder();
const keyOf = (i: number) => enc.encode(`/b/${String(i).padStart(6, "0")}`);

function cpuPer(n: number, run: () => void): number {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), "etcdts-verify-cost-"));
  const path = join(dir, "store.db");
  try {
    const store = MvccStore.open(path);
    const state = new StateMachine(store);
    let index = store.appliedIndex();
    const putAll = () => {
      for (let i = 0; i < KEYS; i += 64) {
        const batch = [];
        for (let j = i; j < Math.min(KEYS, i + 64); j++) {
          const request = create(InternalRaftRequestSchema, { put: { key: keyOf(j), value: VALUE } });
          batch.push({ index: ++index, term: 1n, request });
        }
        state.applyBatch(batch);
      }
    };
    putAll();
    const putCosts: number[] = [];
    for (let r = 0; r < ROUNDS; r++) putCosts.push(cpuPer(KEYS, putAll));
    // A whole catch-up (checked) as a watcher from revision 1 with prev_kv gets it, per event.
    const q = {
      key: enc.encode("/b/"),
      rangeEnd: enc.encode("/b0"),
      fromRev: 1n,
      toRev: store.currentRevision(),
      prevKv: true,
    };
    const events = (store.eventsSince(q) as unknown[]).length;
    const whole: number[] = [];
    for (let r = 0; r < ROUNDS; r++) whole.push(cpuPer(events, () => store.eventsSince(q)));
    store.close();

    const db = new Database(path, { readonly: true, safeIntegers: true, strict: true });
    const idx = KeyIndex.load(db);
    const plain = new KvReader(db, idx);
    const checked = new KvReader(db, idx, { verify: true, onMismatch: () => {} });
    const getAll = (reader: KvReader) => () => {
      for (let i = 0; i < KEYS; i++) reader.get(keyOf(i));
    };
    const history = (columns: string, verify: boolean) => () => {
      const rows = db.query(`SELECT ${columns} FROM history ORDER BY mod_rev, sub`)
        .values() as unknown as StoredRow[];
      if (verify) { for (const row of rows) verifyRow(row); }
    };
    const rows = Number(db.query("SELECT count(*) FROM history").values()[0][0]);
    const gets = { plain: [] as number[], checked: [] as number[] };
    const catchUp = { plain: [] as number[], checked: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      gets.plain.push(cpuPer(KEYS, getAll(plain)));
      gets.checked.push(cpuPer(KEYS, getAll(checked)));
      catchUp.plain.push(cpuPer(rows, history("mod_rev, sub, kv", false)));
      catchUp.checked.push(cpuPer(rows, history(STORED_COLUMNS, true)));
    }
    // The check alone, on one row in a tight loop: the steadiest figure of the three.
    const one =
      (db.query(`SELECT ${STORED_COLUMNS} FROM history LIMIT 1`).values() as unknown as StoredRow[])[0];
    const alone: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      alone.push(cpuPer(200_000, () => {
        for (let i = 0; i < 200_000; i++) if (mismatchOf(one) !== null) throw new Error("bench: damaged row");
      }));
    }
    db.close();

    const put = median(putCosts);
    const show = (name: string, m: { plain: number[]; checked: number[] }, per: number, of: string) => {
      const a = median(m.plain);
      const b = median(m.checked);
      console.log(
        `${name}: ${a.toFixed(2)} → ${b.toFixed(2)} µs CPU per row (+${(b - a).toFixed(2)} µs, ${
          ((b - a) / per * 100).toFixed(1)
        }% of ${of} ${per.toFixed(2)} µs)`,
      );
    };
    console.log(`${KEYS} keys × ${VALUE.length} B, median of ${ROUNDS} alternating rounds`);
    console.log(`overwrite put in the store (batches of 64): ${put.toFixed(2)} µs CPU each`);
    show("apply loop's read of the previous value", gets, put, "a put's");
    show("watch catch-up read of history", catchUp, median(catchUp.plain), "the read's");
    show("  the same", catchUp, median(whole), "a whole catch-up event's (with prev_kv)");
    const check = median(alone);
    console.log(
      `the check alone: ${(check * 1000).toFixed(0)} ns per row (${
        (check / put * 100).toFixed(1)
      }% of a put, ${(check / median(whole) * 100).toFixed(1)}% of a catch-up event)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
