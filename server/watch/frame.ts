/**
 * Event responses written straight to gRPC frame bytes from the parts the hub shares.
 *
 * Why: with many watchers on one key, building a WatchResponse message per watcher and
 * running the generic protobuf encoder over it was the largest cost of fan-out (profiled:
 * ~40 % of the delivery path). Here a watcher's frame is the 5-byte gRPC prefix, the
 * shared header bytes, the watcher's pre-encoded id, and the shared event bytes, copied
 * in field-number order, i.e. exactly what the schema encoder would write.
 */
import { encode } from "../../wire/writer.ts";
import type { EncodedField } from "./encode.ts";

const FRAME_PREFIX = 5;
/** WatchResponse.fragment (field 7, varint) = true. */
const FRAGMENT_FIELD = new Uint8Array([(7 << 3) | 0, 1]);
const NO_FIELD = new Uint8Array();

/**
 * A watch id as its encoded WatchResponse field (tag + varint), made once per watcher;
 * empty for id 0, which proto3 leaves out. Read-only: the empty one is shared.
 */
export function watchIdField(id: bigint): Uint8Array {
  if (id === 0n) return NO_FIELD;
  return encode((w, v: bigint) => w.int64Field(2, v), id);
}

/** One event response (or one fragment of it) for one watcher. */
export interface FrameParts {
  readonly header: EncodedField;
  /** From `watchIdField`. */
  readonly watchId: Uint8Array;
  readonly events: readonly EncodedField[];
  /** More fragments of this response follow. */
  readonly fragment: boolean;
}

/** The response's size on the wire without the gRPC prefix. */
export function messageSize(p: FrameParts): number {
  let n = fieldSize(p.header) + p.watchId.length + (p.fragment ? FRAGMENT_FIELD.length : 0);
  for (const e of p.events) n += fieldSize(e);
  return n;
}

/** The response's size as a gRPC frame. */
export function frameSize(p: FrameParts): number {
  return FRAME_PREFIX + messageSize(p);
}

/** The response as one length-prefixed gRPC frame. */
export function eventFrame(p: FrameParts): Uint8Array {
  const out = new Uint8Array(frameSize(p));
  writeEventFrame(out, 0, p);
  return out;
}

/**
 * Writes the response's frame into `out` at `start` (room for `frameSize(p)` bytes), so that
 * many responses can share one buffer; returns where the next one goes.
 */
export function writeEventFrame(out: Uint8Array, start: number, p: FrameParts): number {
  const size = messageSize(p);
  out[start] = 0;
  out[start + 1] = size >>> 24;
  out[start + 2] = (size >>> 16) & 0xff;
  out[start + 3] = (size >>> 8) & 0xff;
  out[start + 4] = size & 0xff;
  let at = putField(out, start + FRAME_PREFIX, p.header);
  out.set(p.watchId, at);
  at += p.watchId.length;
  if (p.fragment) {
    out.set(FRAGMENT_FIELD, at);
    at += FRAGMENT_FIELD.length;
  }
  for (const e of p.events) at = putField(out, at, e);
  return at;
}

function putField(out: Uint8Array, at: number, f: EncodedField): number {
  out[at] = (f.no << 3) | f.wireType; // both field numbers (1, 11) fit a one-byte tag
  out.set(f.data, at + 1);
  return at + 1 + f.data.length;
}

function fieldSize(f: EncodedField): number {
  return 1 + f.data.length;
}
