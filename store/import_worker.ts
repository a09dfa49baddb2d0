/**
 * The import's second thread: reads the key bucket of an etcd backend and posts its rows in
 * packed batches to the thread inserting them (key_bucket_import.ts).
 */
import { BboltReader } from "./bbolt/reader.ts";
import {
  BadKeyEntry,
  type ImportMessage,
  IN_FLIGHT,
  readKeyRows,
  type WorkerTask,
} from "./key_bucket_import.ts";

declare const self: Worker;

function post(m: ImportMessage): void {
  const b = m.kind === "rows" ? m.batch : null;
  self.postMessage(m, b === null ? [] : [b.ints, b.ends, b.bytes].map((a) => a.buffer as ArrayBuffer));
}

self.onmessage = (event: MessageEvent<WorkerTask>) => {
  const { path, limit } = event.data;
  const inFlight = new Int32Array(event.data.inFlight);
  const r = BboltReader.open(path, { limit });
  if (!(r instanceof BboltReader)) return post({ kind: "failed", message: r.message, bad: false });
  try {
    const err = readKeyRows(r, (batch) => {
      // Waits for the inserting thread to take one if IN_FLIGHT are waiting.
      for (let n = Atomics.load(inFlight, 0); n >= IN_FLIGHT; n = Atomics.load(inFlight, 0)) {
        Atomics.wait(inFlight, 0, n);
      }
      Atomics.add(inFlight, 0, 1);
      post({ kind: "rows", batch });
    });
    post(err === null ? { kind: "end" } : { kind: "failed", message: err.message, bad: false });
  } catch (e) {
    post({
      kind: "failed",
      message: e instanceof Error ? e.message : String(e),
      bad: e instanceof BadKeyEntry,
    });
  } finally {
    r.close();
  }
};
