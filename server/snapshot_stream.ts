/**
 * Maintenance.Snapshot: a consistent view of the store written as an etcd 3.4 backend
 * (store/etcd_export.ts, run in a child process: export_child.ts), streamed in 32 KiB
 * messages with the bytes still to come, then one message carrying the sha256 of
 * everything sent, exactly as etcd streams it;
 * `snapshot save` keeps both, so a saved file is what etcd's own save makes and every etcd
 * tool reads. (Members catching up inside a cluster get the SQLite copy instead, see
 * MvccStore.copyTo: faster to make and to install.)
 */
import { create } from "@bufbuild/protobuf";
import { createHash, type Hash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Code, type EtcdError, etcdError } from "../api/errors.ts";
import { type SnapshotResponse, SnapshotResponseSchema } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { StreamSink } from "./grpc/server.ts";
import { log } from "./log.ts";
import type { MvccStore } from "../store/mvcc.ts";
import { type SnapshotChunk, snapshotResponseFrames } from "../wire/etcd.ts";
import { ChecksumMismatch, corruptStoreError } from "../store/checksum.ts";
import { exportInChild } from "./export_child.ts";

/** Files being sent are `snapshot-<pid>-<time>-<random>.tmp` beside the store. */
const TMP_NAME = /^snapshot-\d+-\d+-[0-9a-z]+\.tmp$/;

/** A new name of that form beside the store at `dbPath`. */
function tmpPath(dbPath: string): string {
  return path.join(
    path.dirname(dbPath),
    `snapshot-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`,
  );
}

/**
 * Removes what a member killed while sending a snapshot left beside its store (`dir`):
 * at start, no snapshot is being sent. Returns the names removed.
 */
export function removeStaleSnapshotFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => TMP_NAME.test(n));
  } catch {
    return [];
  }
  for (const n of names) fs.rmSync(path.join(dir, n), { force: true });
  return names;
}

/** How often the member says it is busy while the child exports (under the idle GC's 1 s). */
const EXPORT_BUSY_MS = 250;

/** etcd's snapshotSendBufferSize. */
const CHUNK_BYTES = 32 * 1024;
/**
 * Messages read into one buffer and written at once to a gRPC stream: each message read
 * from the file straight to its place in its frame, instead of copied from a read buffer
 * into a message, then into a frame (measured: a 103 MB snapshot streamed in 1.4-2.5 s, most
 * of it copies and allocation).
 */
const MESSAGES_PER_WRITE = 16;

/**
 * Streams a snapshot of `store` to `out`; an error value if it could not be made or sent.
 * `sending` is called as each batch goes out: the member is busy, not idle.
 */
export async function streamSnapshot(
  store: MvccStore,
  out: StreamSink<SnapshotResponse>,
  signal: AbortSignal,
  sending: () => void = () => {},
): Promise<EtcdError | void> {
  const dbPath = store.path();
  const tmp = tmpPath(dbPath);
  try {
    // Commit what is applied so the copy is as fresh as the reply headers claim, without
    // rows a compaction has yet to delete (etcd's backend would not have them), and keep
    // compactions whole in their applies until the child has read.
    const releaseCompactions = store.holdCompactions();
    // The member waits for the child but is not idle: counted as busy, the idle collection
    // (a full GC: ~0.3 s with a 1M-key index) does not fall on the send's first batches.
    const busy = setInterval(sending, EXPORT_BUSY_MS);
    try {
      await exportInChild(dbPath, tmp, signal);
    } finally {
      clearInterval(busy);
      releaseCompactions();
    }
    const total = fs.statSync(tmp).size;
    log.info("sending database snapshot to client", { "total-bytes": total });
    const start = performance.now();
    const hash = createHash("sha256");
    const fd = fs.openSync(tmp, "r");
    try {
      if (out.sendFrames === undefined) {
        for (let sent = 0; sent < total;) {
          sending();
          const blob = readChunk(fd, sent, Math.min(CHUNK_BYTES, total - sent));
          sent += blob.length;
          hash.update(blob);
          const msg = create(SnapshotResponseSchema, { remainingBytes: BigInt(total - sent), blob });
          if (!await send(out, msg, signal)) return;
        }
      } else {
        await sendInBatches(out, fd, total, hash, sending, signal);
        if (out.closed || signal.aborted) return;
      }
    } finally {
      fs.closeSync(fd);
    }
    const sha = hash.digest();
    if (!await send(out, create(SnapshotResponseSchema, { remainingBytes: 0n, blob: sha }), signal)) return;
    log.info("successfully sent database snapshot to client", {
      "total-bytes": total,
      took: `${(performance.now() - start).toFixed(1)}ms`,
    });
  } catch (e) {
    if (signal.aborted) return;
    log.warn("failed to send database snapshot", { error: (e as Error).message });
    if (e instanceof ChecksumMismatch) {
      store.reportDamage(e, "snapshot");
      return corruptStoreError(e, "snapshot");
    }
    return etcdError(Code.Internal, `etcdserver: snapshot failed: ${(e as Error).message}`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Sends the file in batches of MESSAGES_PER_WRITE messages written at once. The next
 * batch is read and the last one hashed while the socket drains, not after: waiting for
 * the client to take a batch and only then making the next one left both sides idle half
 * the time (103 MB sent in 0.58-0.72 s; so, 0.23-0.27 s).
 */
async function sendInBatches(
  out: StreamSink<SnapshotResponse>,
  fd: number,
  total: number,
  hash: Hash,
  sending: () => void,
  signal: AbortSignal,
): Promise<void> {
  for (let batch = total > 0 ? readFrames(fd, 0, total) : null; batch !== null;) {
    sending();
    const room = out.sendFrames!(batch.frames);
    for (const blob of batch.blobs) hash.update(blob);
    const sent = batch.sent;
    batch = sent < total ? readFrames(fd, sent, total) : null;
    // Awaited even with room: the connection hands queued frames to the socket at the
    // end of this turn, and only then knows whether the socket is backed up.
    await (room ? undefined : out.drained());
    if (out.closed || signal.aborted) return;
  }
}

/** Sends with backpressure; false once the client is gone. */
async function send(
  out: StreamSink<SnapshotResponse>,
  msg: SnapshotResponse,
  signal: AbortSignal,
): Promise<boolean> {
  if (out.closed || signal.aborted) return false;
  if (!out.send(msg)) await out.drained();
  return !out.closed && !signal.aborted;
}

/** `n` bytes of the file at `at`. */
function readChunk(fd: number, at: number, n: number): Uint8Array {
  const buf = new Uint8Array(n);
  const got = fs.readSync(fd, buf, 0, n, at);
  if (got !== n) throw new Error(`snapshot file ended at ${at + got} of ${at + n} bytes`);
  return buf;
}

/**
 * Up to MESSAGES_PER_WRITE gRPC frames of SnapshotResponse, as etcd sends them (CHUNK_BYTES
 * of the file each, with the bytes still to come), the file read into their blobs in
 * place; `blobs` views them for the hash, `sent` is the file offset after them.
 */
function readFrames(
  fd: number,
  from: number,
  total: number,
): { frames: Uint8Array; blobs: Uint8Array[]; sent: number } {
  const chunks: SnapshotChunk[] = [];
  for (let at = from; at < total && chunks.length < MESSAGES_PER_WRITE;) {
    const bytes = Math.min(CHUNK_BYTES, total - at);
    at += bytes;
    chunks.push({ bytes, remaining: total - at });
  }
  const blobs: Uint8Array[] = [];
  let at = from;
  const frames = snapshotResponseFrames(chunks, (blob) => {
    const got = fs.readSync(fd, blob, 0, blob.length, at);
    if (got !== blob.length) {
      throw new Error(`snapshot file ended at ${at + got} of ${at + blob.length} bytes`);
    }
    blobs.push(blob);
    at += blob.length;
  });
  return { frames, blobs, sent: at };
}
