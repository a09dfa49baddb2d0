/**
 * Event frames built from shared parts must be the bytes the schema encoder writes for the
 * same response, and the gathering writer must keep responses in order, one write per turn.
 */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ResponseHeaderSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Event_EventType, EventSchema, KeyValueSchema } from "../../proto/gen/mvccpb/kv_pb.ts";
import { encodeFrame, FrameDecoder } from "../../api/grpc-frame.ts";
import { encodeEvent, encodeHeader } from "../../server/watch/encode.ts";
import { eventFrame, watchIdField } from "../../server/watch/frame.ts";
import { ResponseWriter } from "../../server/watch/writer.ts";
import type { StreamSink } from "../../server/grpc/server.ts";

const enc = (s: string) => new TextEncoder().encode(s);

const header = create(ResponseHeaderSchema, {
  clusterId: 14841639068965178418n,
  memberId: 10276657743932975437n,
  revision: 42n,
  raftTerm: 2n,
});
const events = [
  create(EventSchema, {
    type: Event_EventType.PUT,
    kv: create(KeyValueSchema, {
      key: enc("a"),
      value: enc("x".repeat(300)),
      createRevision: 3n,
      modRevision: 42n,
      version: 4n,
    }),
    prevKv: create(KeyValueSchema, {
      key: enc("a"),
      value: enc("y"),
      createRevision: 3n,
      modRevision: 41n,
      version: 3n,
    }),
  }),
  create(EventSchema, {
    type: Event_EventType.DELETE,
    kv: create(KeyValueSchema, { key: enc("b"), modRevision: 42n }),
  }),
];

function expected(watchId: bigint, fragment: boolean): Uint8Array {
  return encodeFrame(
    toBinary(WatchResponseSchema, create(WatchResponseSchema, { header, watchId, fragment, events })),
  );
}

describe("eventFrame", () => {
  for (const id of [0n, 1n, 127n, 128n, 300_000n, -1n, 9223372036854775807n]) {
    for (const fragment of [false, true]) {
      test(`watch id ${id}, fragment ${fragment}: the schema encoder's bytes`, () => {
        const got = eventFrame({
          header: encodeHeader(header),
          watchId: watchIdField(id),
          events: events.map(encodeEvent),
          fragment,
        });
        expect(got).toEqual(expected(id, fragment));
      });
    }
  }
});

/** A sink that records each write and can refuse (backpressure) on demand. */
function recordingSink(opts: { refuse?: boolean } = {}) {
  const writes: Uint8Array[] = [];
  let drain: (() => void) | null = null;
  const sink: StreamSink<WatchResponse> = {
    send: () => {
      throw new Error("frames expected");
    },
    sendFrames(frames) {
      writes.push(frames);
      return !opts.refuse;
    },
    drained: () => new Promise<void>((r) => (drain = r)),
    closed: false,
  };
  return { sink, writes, drain: () => drain?.() };
}

function decodeAll(writes: readonly Uint8Array[]): WatchResponse[] {
  const d = new FrameDecoder(1 << 24);
  const out: WatchResponse[] = [];
  for (const w of writes) {
    const msgs = d.push(w);
    if (!Array.isArray(msgs)) throw new Error("bad frame");
    for (const m of msgs) out.push(fromBinary(WatchResponseSchema, m));
  }
  return out;
}

describe("ResponseWriter over frames", () => {
  const part = (watchId: bigint) => ({
    header: encodeHeader(header),
    watchId,
    watchIdField: watchIdField(watchId),
    events: events.map(encodeEvent),
    fragment: false,
    maxBytes: 1 << 20,
  });

  test("responses of one turn go out in order as one write", async () => {
    const { sink, writes } = recordingSink();
    const w = new ResponseWriter(sink, () => {});
    w.control(create(WatchResponseSchema, { header, watchId: 7n, created: true }));
    for (let id = 0n; id < 25n; id++) w.events(part(id));
    expect(writes.length).toBe(0);
    await Promise.resolve();
    expect(writes.length).toBe(1);
    const got = decodeAll(writes);
    expect(got.length).toBe(26);
    expect(got[0].created).toBe(true);
    expect(got.slice(1).map((r) => r.watchId)).toEqual(Array.from({ length: 25 }, (_, i) => BigInt(i)));
    expect(got[1].events.length).toBe(2);
  });

  test("a refused write blocks until the sink drains", async () => {
    const s = recordingSink({ refuse: true });
    let woken = 0;
    const w = new ResponseWriter(s.sink, () => woken++);
    w.events(part(1n));
    w.flush();
    expect(w.blocked).toBe(true);
    s.drain();
    await Promise.resolve();
    await Promise.resolve();
    expect(w.blocked).toBe(false);
    expect(woken).toBe(1);
  });

  test("a large turn is written before it ends", () => {
    const { sink, writes } = recordingSink();
    const w = new ResponseWriter(sink, () => {});
    for (let i = 0; i < 400; i++) w.events(part(1n));
    expect(writes.length).toBeGreaterThan(0);
  });
});
