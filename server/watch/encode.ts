/**
 * Watch responses built from pre-encoded parts, so an event is encoded once per revision
 * and its bytes reused for every watcher that receives it.
 *
 * How: our gRPC sink takes messages, not bytes, so the reused parts ride in the message's
 * `$unknown` list (protobuf-es writes each entry as tag + raw bytes). The header (field 1)
 * and each event (field 11) are written exactly as the schema would write them; only the
 * field order on the wire differs, which protobuf parsers accept by definition.
 */
import { toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import {
  type ResponseHeader,
  ResponseHeaderSchema,
  type WatchResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { type Event, EventSchema } from "../../proto/gen/mvccpb/kv_pb.ts";
import { ProtoWriter, varint64Size, varintSize } from "../../wire/writer.ts";

/** One length-delimited field's payload: varint length + bytes, ready for `$unknown`. */
export interface EncodedField {
  readonly no: number;
  readonly wireType: WireType;
  readonly data: Uint8Array;
}

const HEADER_FIELD = 1;
const EVENTS_FIELD = 11;

function lengthDelimited(no: number, bytes: Uint8Array): EncodedField {
  const w = new ProtoWriter(varintSize(bytes.length) + bytes.length);
  w.lengthDelimited(bytes);
  return { no, wireType: WireType.LengthDelimited, data: w.finish() };
}

/** An event as a WatchResponse `events` entry. */
export function encodeEvent(ev: Event): EncodedField {
  return lengthDelimited(EVENTS_FIELD, toBinary(EventSchema, ev));
}

/** A response header as a WatchResponse `header` entry. */
export function encodeHeader(h: ResponseHeader): EncodedField {
  return lengthDelimited(HEADER_FIELD, toBinary(ResponseHeaderSchema, h));
}

/**
 * The encoded events of one applied revision, each made on first use in the two shapes
 * watchers ask for (with and without prev_kv) and shared by every watcher after that.
 */
export class RevisionEvents {
  readonly revision: bigint;
  /** `revision + 1`, made once rather than per watcher (bigint arithmetic allocates). */
  readonly next: bigint;
  readonly events: readonly Event[];
  readonly #withPrev: (EncodedField | undefined)[];
  readonly #withoutPrev: (EncodedField | undefined)[];
  #allWithPrev: readonly EncodedField[] | undefined;
  #allWithoutPrev: readonly EncodedField[] | undefined;

  constructor(revision: bigint, events: readonly Event[]) {
    this.revision = revision;
    this.next = revision + 1n;
    this.events = events;
    this.#withPrev = new Array(events.length);
    this.#withoutPrev = new Array(events.length);
  }

  /** Event `i` encoded with or without its prev_kv. */
  encoded(i: number, prevKv: boolean): EncodedField {
    const cache = prevKv || this.events[i].prevKv === undefined ? this.#withPrev : this.#withoutPrev;
    let e = cache[i];
    if (e === undefined) {
      const ev = this.events[i];
      e = encodeEvent(prevKv || ev.prevKv === undefined ? ev : { ...ev, prevKv: undefined });
      cache[i] = e;
    }
    return e;
  }

  /** Every event of the revision, encoded; one shared array for all watchers that get them all. */
  all(prevKv: boolean): readonly EncodedField[] {
    let all = prevKv ? this.#allWithPrev : this.#allWithoutPrev;
    if (all === undefined) {
      all = this.events.map((_, i) => this.encoded(i, prevKv));
      if (prevKv) this.#allWithPrev = all;
      else this.#allWithoutPrev = all;
    }
    return all;
  }
}

/** What one logical watch response carries before it is (maybe) split into fragments. */
export interface ResponseParts {
  readonly header: EncodedField;
  readonly watchId: bigint;
  readonly events: readonly EncodedField[];
  /** The watcher asked for fragments: split above `maxBytes` (etcd's sendFragments). */
  readonly fragment: boolean;
  readonly maxBytes: number;
}

/** One message of a (maybe fragmented) response: its events and whether more follow. */
export interface ResponsePiece {
  readonly events: readonly EncodedField[];
  readonly fragment: boolean;
}

/**
 * How one response is sent: whole, or with `fragment` and more than one event over
 * `maxBytes`, in several pieces with `fragment: true` on all but the last, as etcd splits them.
 */
export function responsePieces(p: ResponseParts): ResponsePiece[] {
  if (!p.fragment || p.events.length < 2) return [{ events: p.events, fragment: false }];
  const base = fieldSize(p.header) + watchIdSize(p.watchId);
  let total = base;
  for (const e of p.events) total += fieldSize(e);
  if (total < p.maxBytes) return [{ events: p.events, fragment: false }];
  const out: ResponsePiece[] = [];
  const fragmentFlag = 2; // tag + 1-byte bool
  let i = 0;
  while (i < p.events.length) {
    const start = i;
    let size = base + fragmentFlag;
    for (; i < p.events.length; i++) {
      size += fieldSize(p.events[i]);
      if (i > start && size >= p.maxBytes) break;
    }
    out.push({ events: p.events.slice(start, i), fragment: i < p.events.length });
  }
  return out;
}

/** The messages to send for one response (see `responsePieces`). */
export function responseMessages(p: ResponseParts): WatchResponse[] {
  return responsePieces(p).map((piece) => message(p, piece.events, piece.fragment));
}

function message(p: ResponseParts, events: readonly EncodedField[], fragment: boolean): WatchResponse {
  return {
    $typeName: "etcdserverpb.WatchResponse",
    header: undefined,
    watchId: p.watchId,
    created: false,
    canceled: false,
    compactRevision: 0n,
    cancelReason: "",
    fragment,
    events: [],
    $unknown: [p.header, ...events],
  };
}

function fieldSize(f: EncodedField): number {
  return 1 + f.data.length; // both field numbers fit a one-byte tag
}

function watchIdSize(id: bigint): number {
  return id === 0n ? 0 : 1 + varint64Size(id);
}
