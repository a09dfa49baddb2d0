/**
 * The import's second thread: reads the key bucket of an etcd backend and posts its rows in
 * packed batches to the thread inserting them (key_bucket_import.ts).
 */
import { BboltReader } from "./bbolt/reader.ts";
import {
  BadKeyEntry,
  Cell,
  type ImportMessage,
  IN_FLIGHT,
  readKeyRows,
  type WorkerTask,
} from "./key_bucket_import.ts";

declare const self: Worker;

/** Thrown out of the walk when the inserting thread says stop. */
class Stopped extends Error {}

function post(m: ImportMessage): void {
  const b = m.kind === "rows" ? m.batch : null;
  self.postMessage(m, b === null ? [] : [b.ints, b.ends, b.bytes].map((a) => a.buffer as ArrayBuffer));
}

/** Reads and posts the rows; how it ended. */
function readAndPost(task: WorkerTask): ImportMessage {
  const cells = new Int32Array(task.cells);
  const r = BboltReader.open(task.path, { limit: task.limit });
  if (!(r instanceof BboltReader)) return { kind: "failed", message: r.message, bad: false };
  try {
    const err = readKeyRows(r, (batch) => {
      // Waits for the inserting thread to take one while IN_FLIGHT are waiting.
      for (let n = Atomics.load(cells, Cell.inFlight);; n = Atomics.load(cells, Cell.inFlight)) {
        if (Atomics.load(cells, Cell.stop) !== 0) throw new Stopped();
        if (n < IN_FLIGHT) break;
        Atomics.wait(cells, Cell.inFlight, n);
      }
      Atomics.add(cells, Cell.inFlight, 1);
      post({ kind: "rows", batch });
    });
    return err === null ? { kind: "end" } : { kind: "failed", message: err.message, bad: false };
  } catch (e) {
    if (e instanceof Stopped) return { kind: "stopped" };
    if (e instanceof BadKeyEntry) return { kind: "failed", message: e.message, bad: true };
    return { kind: "crashed", message: e instanceof Error ? e.message : String(e) };
  } finally {
    r.close();
  }
}

self.onmessage = (event: MessageEvent<WorkerTask>) => post(readAndPost(event.data));
