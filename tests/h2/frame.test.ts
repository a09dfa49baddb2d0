/**
 * HTTP/2 frame codec and header blocks (h2/frame.ts, server/h2/headers.ts): round
 * trips split at every byte, the preface check, the frame size limit, request header rules.
 */
import { describe, expect, test } from "bun:test";
import { HpackDecoder } from "../../h2/hpack.ts";
import {
  CLIENT_PREFACE,
  DATA,
  encodeFrame,
  encodeSettings,
  ErrorCode,
  type Frame,
  FrameReader,
  goawayPayload,
  HEADERS,
  SETTINGS,
} from "../../h2/frame.ts";
import { encodeHeaderBlock, MalformedHeaders, requestHeaders } from "../../server/h2/headers.ts";

const frames: Frame[] = [
  { type: SETTINGS, flags: 0, streamId: 0, payload: encodeSettings([[3, 100], [4, 1 << 20]]) },
  { type: HEADERS, flags: 5, streamId: 1, payload: Uint8Array.from([0x82, 0x86, 0x84]) },
  { type: DATA, flags: 1, streamId: 0x7ffffff1, payload: new Uint8Array(16384).fill(9) },
  { type: DATA, flags: 0, streamId: 3, payload: new Uint8Array(0) },
];

function readAll(reader: FrameReader, chunks: Buffer[]): { got: Frame[]; err: unknown } {
  const got: Frame[] = [];
  let err = null;
  for (const c of chunks) {
    err ??= reader.push(c, (f) => got.push({ ...f, payload: Uint8Array.from(f.payload) }));
  }
  return { got, err };
}

describe("frames", () => {
  test("round-trip through the reader, split at every boundary but inside the large payload", () => {
    const all = Buffer.concat([CLIENT_PREFACE, ...frames.map(encodeFrame)]);
    for (let cut = 0; cut <= all.length; cut += cut < 64 || cut > all.length - 64 ? 1 : 997) {
      const { got, err } = readAll(new FrameReader(), [all.subarray(0, cut), all.subarray(cut)]);
      expect(err).toBeNull();
      expect(got).toEqual(frames);
    }
  });

  test("a wrong preface is a PROTOCOL_ERROR, even when it arrives byte by byte", () => {
    const wrong = Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
    const bytes = [...wrong].map((b) => Buffer.from([b]));
    expect(readAll(new FrameReader(), bytes).err).toEqual(
      expect.objectContaining({ code: ErrorCode.PROTOCOL_ERROR }),
    );
  });

  test("a frame over the maximum size is a FRAME_SIZE_ERROR before its payload arrives", () => {
    const head = encodeFrame({ type: DATA, flags: 0, streamId: 1, payload: new Uint8Array(16385) }).subarray(
      0,
      9,
    );
    const r = readAll(new FrameReader({ preface: false }), [head]);
    expect(r.err).toEqual(expect.objectContaining({ code: ErrorCode.FRAME_SIZE_ERROR }));
  });

  test("GOAWAY carries the last stream, the code and the reason", () => {
    const p = goawayPayload(7, { code: ErrorCode.PROTOCOL_ERROR, message: "bad" });
    expect([...p]).toEqual([0, 0, 0, 7, 0, 0, 0, 1, ...Buffer.from("bad")]);
  });
});

describe("header blocks", () => {
  test("response headers encode pseudo-headers first and drop hop-by-hop ones", () => {
    const block = encodeHeaderBlock({
      "content-type": "application/grpc",
      ":status": 200,
      connection: "keep-alive",
      "set-cookie": ["a=1", "b=2"],
    });
    expect(new HpackDecoder().decode(block)).toEqual([
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ]);
  });

  test("request headers: repeated fields joined, malformed blocks refused", () => {
    const base: [string, string][] = [[":method", "POST"], [":path", "/x"], [":authority", "http://h:1"]];
    expect(requestHeaders([...base, ["a", "1"], ["a", "2"]])).toEqual({
      ":method": "POST",
      ":path": "/x",
      ":authority": "http://h:1",
      a: "1, 2",
    });
    expect(requestHeaders([[":method", "GET"]])).toBeInstanceOf(MalformedHeaders);
    expect(requestHeaders([...base, ["Upper", "x"]])).toBeInstanceOf(MalformedHeaders);
    expect(requestHeaders([["a", "1"], ...base])).toBeInstanceOf(MalformedHeaders);
    expect(requestHeaders([...base, [":path", "/y"]])).toBeInstanceOf(MalformedHeaders);
    expect(requestHeaders([...base, ["connection", "close"]])).toBeInstanceOf(MalformedHeaders);
    expect(requestHeaders([...base, ["malformed", "no"]])).toEqual(
      expect.objectContaining({ malformed: "no" }),
    );
    // A small block can name one big table entry many times: the decoded size is bounded.
    const big = "v".repeat(4000);
    expect(requestHeaders([...base, ...Array.from({ length: 5000 }, (): [string, string] => ["x", big])]))
      .toBeInstanceOf(MalformedHeaders);
  });
});
