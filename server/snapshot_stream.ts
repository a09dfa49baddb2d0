/**
 * Maintenance.Snapshot: a consistent view of the store written as an etcd 3.4 backend
 * (store/etcd_export.ts), streamed in 32 KiB messages with the bytes still to come, then
 * one message carrying the sha256 of everything sent, exactly as etcd streams it;
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
import { exportEtcdBackend } from "../store/etcd_export.ts";
import { ChecksumMismatch, corruptStoreError } from "../store/checksum.ts";

/** etcd's snapshotSendBufferSize. */
const CHUNK_BYTES = 32 * 1024;

/** Streams a snapshot of `store` to `out`; an error value if it could not be made or sent. */
export async function streamSnapshot(
  store: MvccStore,
  out: StreamSink<SnapshotResponse>,
  signal: AbortSignal,
): Promise<EtcdError | void> {
  const dbPath = store.path();
  const tmp = path.join(
    path.dirname(dbPath),
    `snapshot-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`,
  );
  try {
    // Commit what is applied so the copy is as fresh as the reply headers claim.
    store.flush();
    await exportEtcdBackend(dbPath, tmp, { signal });
    const total = fs.statSync(tmp).size;
    log.info("sending database snapshot to client", { "total-bytes": total });
    const start = performance.now();
    const hash = createHash("sha256");
    const fd = fs.openSync(tmp, "r");
    try {
      let sent = 0;
      while (sent < total) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, total - sent));
        const n = fs.readSync(fd, buf, 0, buf.length, sent);
        if (n === 0) break;
        sent += n;
        const blob = buf.subarray(0, n);
        hash.update(blob);
        if (
          !await send(
            out,
            create(SnapshotResponseSchema, { remainingBytes: BigInt(total - sent), blob }),
            signal,
          )
        ) {
          return;
        }
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
