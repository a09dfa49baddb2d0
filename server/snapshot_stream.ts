/**
 * Maintenance.Snapshot: a consistent view of the store as an etcd 3.4 backend, made by a
 * child process (export_child.ts, store/etcd_export.ts) and sent while it is made, in
 * 32 KiB messages with the bytes still to come, then one message carrying the sha256 of
 * everything sent, exactly as etcd streams it;
 * `snapshot save` keeps both, so a saved file is what etcd's own save makes and every etcd
 * tool reads. (Members catching up inside a cluster get the SQLite copy instead, see
 * MvccStore.copyTo: faster to make and to install.)
 */
import { create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Code, type EtcdError, etcdError } from "../api/errors.ts";
import { type SnapshotResponse, SnapshotResponseSchema } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { StreamSink } from "./grpc/server.ts";
import { log } from "./log.ts";
import type { MvccStore } from "../store/mvcc.ts";
import { type SnapshotChunk, snapshotResponseFrames } from "../wire/etcd.ts";
import { ChecksumMismatch, corruptStoreError } from "../store/checksum.ts";
import { ChildExport } from "./export_child.ts";

/** etcd's snapshotSendBufferSize. */
const CHUNK_BYTES = 32 * 1024;
/**
 * Messages built into one buffer of frames and written at once to a gRPC stream, instead
 * of a message object each encoded on its own (measured: a 103 MB snapshot streamed in
 * 1.4-2.5 s, most of it copies and allocation).
 */
const MESSAGES_PER_WRITE = 16;

/** Streams a snapshot of `store` to `out`; an error value if it could not be made or sent. */
export async function streamSnapshot(
  store: MvccStore,
  out: StreamSink<SnapshotResponse>,
  signal: AbortSignal,
): Promise<EtcdError | void> {
  // Commit what is applied so the copy is as fresh as the reply headers claim.
  store.flush();
  const dbPath = store.path();
  const tmp = path.join(
    path.dirname(dbPath),
    `snapshot-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`,
  );
  const made = new ChildExport(dbPath, tmp, signal);
  try {
    const total = await made.size();
    log.info("sending database snapshot to client", { "total-bytes": total });
    const start = performance.now();
    const hash = createHash("sha256");
    // The file comes through here a batch at a time, then into its frames.
    const staging = new Uint8Array(MESSAGES_PER_WRITE * CHUNK_BYTES);
    let sent = 0;
    while (sent < total) {
      if (out.sendFrames === undefined) {
        const blob = new Uint8Array(Math.min(CHUNK_BYTES, total - sent));
        await made.read(blob);
        sent += blob.length;
        hash.update(blob);
        const msg = create(SnapshotResponseSchema, { remainingBytes: BigInt(total - sent), blob });
        if (!await send(out, msg, signal)) return;
      } else {
        const batch = staging.subarray(0, Math.min(staging.length, total - sent));
        await made.read(batch);
        hash.update(batch);
        const frames = framesOf(batch, sent, total);
        sent += batch.length;
        if (!await sendWith(out, () => out.sendFrames!(frames), signal)) return;
      }
    }
    await made.done();
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
    made.stop();
    fs.rmSync(tmp, { force: true });
  }
}

/** Sends with backpressure; false once the client is gone. */
function send(
  out: StreamSink<SnapshotResponse>,
  msg: SnapshotResponse,
  signal: AbortSignal,
): Promise<boolean> {
  return sendWith(out, () => out.send(msg), signal);
}

async function sendWith(
  out: StreamSink<SnapshotResponse>,
  write: () => boolean,
  signal: AbortSignal,
): Promise<boolean> {
  if (out.closed || signal.aborted) return false;
  if (!write()) await out.drained();
  return !out.closed && !signal.aborted;
}

/**
 * The gRPC frames of SnapshotResponses carrying `bytes` (the file from offset `from` on),
 * as etcd sends them: CHUNK_BYTES of the file each, with the bytes still to come.
 */
function framesOf(bytes: Uint8Array, from: number, total: number): Uint8Array {
  const chunks: SnapshotChunk[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = Math.min(CHUNK_BYTES, bytes.length - at);
    at += n;
    chunks.push({ bytes: n, remaining: total - from - at });
  }
  let at = 0;
  return snapshotResponseFrames(chunks, (blob) => {
    blob.set(bytes.subarray(at, at + blob.length));
    at += blob.length;
  });
}
