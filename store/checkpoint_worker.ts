/** A worker thread that checkpoints the store's WAL on its own connection (wal_checkpointer.ts). */
import { Database } from "bun:sqlite";
import type { CheckpointReply, CheckpointTask } from "./wal_checkpointer.ts";

declare const self: Worker;

let db: Database | null = null;

self.onmessage = (event: MessageEvent<CheckpointTask>) => {
  const task = event.data;
  if (task.kind === "close") {
    db?.close();
    db = null;
    process.exit(0); // in a worker: ends the worker
  }
  let reply: CheckpointReply;
  try {
    if (db === null) {
      db = new Database(task.path, { readwrite: true, create: false }); // never a stray new file
      // A checkpoint syncs the WAL before it copies and the file after, at NORMAL as at FULL.
      db.run("PRAGMA synchronous = NORMAL");
    }
    // SQLite answers (busy, frames in the WAL, frames copied into the file).
    const [, , copied] = db.query("PRAGMA wal_checkpoint(PASSIVE)").values()[0] as number[];
    reply = { copied };
  } catch (e) {
    reply = { error: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(reply);
};
