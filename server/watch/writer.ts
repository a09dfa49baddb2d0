/**
 * The write side of one Watch call: event and control responses, in order, with the
 * call's backpressure reported as `blocked`.
 *
 * Over gRPC (the sink takes frames) responses are written as frame bytes and gathered:
 * everything one turn of work produces for this call (e.g. one revision for 25 watchers
 * of the stream) goes out as one HTTP/2 write at the end of that turn, because each write
 * costs more than encoding a response (profiled: the per-write stream machinery was ~35 %
 * of fan-out). The JSON gateway's sink takes messages; those go one by one.
 */
import { toBinary } from "@bufbuild/protobuf";
import { type WatchResponse, WatchResponseSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { encodeFrame } from "../../api/grpc-frame.ts";
import type { StreamSink } from "../grpc/server.ts";
import { type EncodedField, responseMessages, responsePieces } from "./encode.ts";
import { type FrameParts, frameSize, writeEventFrame } from "./frame.ts";

/** Gathered bytes are written at once beyond this, so `blocked` stays close to the truth. */
const FLUSH_BYTES = 64 * 1024;

/** One event response before it is framed. */
export interface EventResponse {
  readonly header: EncodedField;
  readonly watchId: bigint;
  /** The id as its encoded field (frame.ts's watchIdField), made once per watcher. */
  readonly watchIdField: Uint8Array;
  readonly events: readonly EncodedField[];
  readonly fragment: boolean;
  readonly maxBytes: number;
}

/** Writes a call's responses; `onWritable` runs when a blocked call may be written again. */
export class ResponseWriter {
  readonly #sink: StreamSink<WatchResponse>;
  readonly #onWritable: () => void;
  readonly #frames: boolean;
  /** Ready frames (control answers) and event responses to frame at flush, in order. */
  #pending: (Uint8Array | FrameParts)[] = [];
  #pendingBytes = 0;
  #flushQueued = false;
  #blocked = false;

  constructor(sink: StreamSink<WatchResponse>, onWritable: () => void) {
    this.#sink = sink;
    this.#onWritable = onWritable;
    this.#frames = typeof sink.sendFrames === "function";
  }

  /** The client is not reading: nothing more should be produced until `onWritable`. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Resolves once the client reads again (at once when it is not blocked). */
  drained(): Promise<void> {
    return this.#sink.drained();
  }

  /** An event response, split into fragments when the watcher asked for them. */
  events(r: EventResponse): void {
    if (!this.#frames) {
      for (const m of responseMessages(r)) this.#sendMessage(m);
      return;
    }
    for (const p of responsePieces(r)) {
      const parts = { header: r.header, watchId: r.watchIdField, events: p.events, fragment: p.fragment };
      this.#gather(parts, frameSize(parts));
    }
  }

  /** A control response (created, canceled, progress, compacted). */
  control(m: WatchResponse): void {
    if (!this.#frames) this.#sendMessage(m);
    else {
      const frame = encodeFrame(toBinary(WatchResponseSchema, m));
      this.#gather(frame, frame.length);
    }
  }

  /** Writes what is gathered now. */
  flush(): void {
    this.#flushQueued = false;
    if (this.#pending.length === 0) return;
    const chunk = frames(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#wrote(this.#sink.sendFrames!(chunk));
  }

  #gather(frame: Uint8Array | FrameParts, size: number): void {
    this.#pending.push(frame);
    this.#pendingBytes += size;
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  #sendMessage(m: WatchResponse): void {
    this.#wrote(this.#sink.send(m));
  }

  #wrote(accepted: boolean): void {
    if (accepted || this.#blocked) return;
    this.#blocked = true;
    // A closed call never drains; it stays blocked until its watchers are removed.
    if (this.#sink.closed) return;
    this.#sink.drained().then(() => {
      this.#blocked = false;
      this.#onWritable();
    });
  }
}

/** Everything gathered as one buffer: one allocation and one copy of each response's parts. */
function frames(pending: readonly (Uint8Array | FrameParts)[], total: number): Uint8Array {
  if (pending.length === 1 && pending[0] instanceof Uint8Array) return pending[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of pending) {
    if (p instanceof Uint8Array) {
      out.set(p, at);
      at += p.length;
    } else at = writeEventFrame(out, at, p);
  }
  return out;
}
