/**
 * The export's second thread: claims parts of the key bucket and writes their leaves into
 * the file being exported, beside the thread that started it. The protocol, and why its
 * state is the export's, are key_bucket_export.ts's.
 */
import { Database } from "bun:sqlite";
import { BboltWriter, type NodeRef } from "./bbolt/writer.ts";
import { PageSpace } from "./bbolt/page_space.ts";
import { ChecksumMismatch } from "./checksum.ts";
import { packLeaves, type PartsReply, type PartsTask, putRevisions } from "./key_bucket_export.ts";

declare const self: Worker;

function writeParts(task: PartsTask): PartsReply {
  const claims = new Int32Array(task.claims);
  let db: Database | null = null;
  let w: BboltWriter | null = null;
  const leaves: [number, NodeRef[]][] = [];
  let claimed = false;
  try {
    db = new Database(task.srcPath, { readwrite: true, create: false, safeIntegers: true, strict: true });
    db.run("PRAGMA query_only = ON");
    db.run("BEGIN");
    const [compactRev] = db.query("SELECT compact_rev FROM meta WHERE id = 0").values()[0] as bigint[];
    if (compactRev !== task.span.compactRev) return { kind: "none", why: "a compaction came between" };
    w = BboltWriter.join(task.destPath, new PageSpace(task.space), task.pageSize);
    for (let i = Atomics.add(claims, 0, 1); i < task.parts.length; i = Atomics.add(claims, 0, 1)) {
      claimed = true;
      const b = w.bucket();
      const [from, to] = task.parts[i];
      for (const _ of putRevisions(db, b, from, to, compactRev)) { /* nothing else runs here */ }
      leaves.push([i, b.endLeaves()]);
    }
    return { kind: "done", leaves: packLeaves(leaves), free: w.endJoined() };
  } catch (e) {
    w?.close();
    // Before it claims a part it just leaves them all to the other thread (a store replaced
    // meanwhile may not even have the columns yet); after, the export has failed: the other
    // thread stops claiming parts at once.
    const message = e instanceof Error ? e.message : String(e);
    if (!claimed) return { kind: "none", why: message };
    Atomics.store(claims, 0, task.parts.length);
    if (e instanceof ChecksumMismatch) {
      return { kind: "damaged", key: e.key, revision: e.revision, sub: e.sub };
    }
    return { kind: "failed", message };
  } finally {
    if (db?.inTransaction) db.run("ROLLBACK");
    db?.close();
  }
}

self.onmessage = (event: MessageEvent<PartsTask>) => {
  const reply = writeParts(event.data);
  const l = reply.kind === "done" ? reply.leaves : null;
  self.postMessage(
    reply,
    l === null ? [] : [l.parts, l.pgids, l.keyEnds, l.keys].map((a) => a.buffer as ArrayBuffer),
  );
};
