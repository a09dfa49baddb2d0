/**
 * The shared HTTP/2 core's protocol pieces (h2/frame.ts) that the server, the CLI's
 * one-shot client and the warm-up's client all use: SETTINGS and WINDOW_UPDATE checks,
 * send windows, DATA padding, header blocks split into frames and collected again.
 */
import { describe, expect, test } from "bun:test";
import {
  CONTINUATION,
  DATA,
  dataPayload,
  DEFAULT_MAX_FRAME_SIZE,
  encodeSettings,
  ErrorCode,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  type Frame,
  headerBlockFrames,
  HeaderBlockReader,
  HEADERS,
  isConnectionError,
  MAX_WINDOW,
  readSettings,
  readWindowIncrement,
  SendWindows,
  Setting,
  SETTINGS,
  u32,
  WINDOW_UPDATE,
} from "../../h2/frame.ts";

const settings = (pairs: [number, number][], streamId = 0): Frame => ({
  type: SETTINGS,
  flags: 0,
  streamId,
  payload: encodeSettings(pairs),
});

describe("SETTINGS and flow control", () => {
  test("values are read in order; an ACK has none; bad frames and values are connection errors", () => {
    expect(
      readSettings(settings([[Setting.INITIAL_WINDOW_SIZE, 1 << 20], [Setting.MAX_FRAME_SIZE, 1 << 15]])),
    )
      .toEqual([[Setting.INITIAL_WINDOW_SIZE, 1 << 20], [Setting.MAX_FRAME_SIZE, 1 << 15]]);
    expect(readSettings({ type: SETTINGS, flags: FLAG_ACK, streamId: 0, payload: new Uint8Array(0) }))
      .toBeNull();
    const code = (f: Frame) => {
      const r = readSettings(f);
      return isConnectionError(r) ? r.code : null;
    };
    expect(code(settings([], 1))).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(code({ type: SETTINGS, flags: FLAG_ACK, streamId: 0, payload: new Uint8Array(6) }))
      .toBe(ErrorCode.FRAME_SIZE_ERROR);
    expect(code({ type: SETTINGS, flags: 0, streamId: 0, payload: new Uint8Array(5) })).toBe(
      ErrorCode.FRAME_SIZE_ERROR,
    );
    expect(code(settings([[Setting.ENABLE_PUSH, 2]]))).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(code(settings([[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW + 1]]))).toBe(
      ErrorCode.FLOW_CONTROL_ERROR,
    );
    expect(code(settings([[Setting.MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE - 1]]))).toBe(
      ErrorCode.PROTOCOL_ERROR,
    );
  });

  test("send windows: SETTINGS move every stream's window, DATA takes from the connection's", () => {
    const w = new SendWindows();
    expect(w.applySettings([[Setting.INITIAL_WINDOW_SIZE, 100_000]])).toBe(100_000 - 65535);
    expect(w.applySettings([[Setting.INITIAL_WINDOW_SIZE, 1000]])).toBe(1000 - 100_000);
    expect(w.allowed(1000)).toBe(1000);
    expect(w.allowed(1 << 20)).toBe(DEFAULT_MAX_FRAME_SIZE);
    w.sent(65535);
    expect(w.allowed(1000)).toBe(0);
    expect(w.growConnection(10)).toBe(true);
    expect(w.allowed(1000)).toBe(10);
    expect(w.growConnection(MAX_WINDOW)).toBe(false);
  });

  test("WINDOW_UPDATE's increment ignores the reserved bit; a wrong size is an error", () => {
    const f = (payload: Uint8Array): Frame => ({ type: WINDOW_UPDATE, flags: 0, streamId: 0, payload });
    expect(readWindowIncrement(f(u32(0x80000005)))).toBe(5);
    expect(isConnectionError(readWindowIncrement(f(new Uint8Array(3))))).toBe(true);
  });

  test("DATA padding is removed; padding as long as the payload is an error", () => {
    const payload = Uint8Array.from([2, 7, 8, 0, 0]);
    expect([...(dataPayload({ type: DATA, flags: FLAG_PADDED, streamId: 1, payload }) as Uint8Array)])
      .toEqual([7, 8]);
    expect(
      isConnectionError(
        dataPayload({ type: DATA, flags: FLAG_PADDED, streamId: 1, payload: Uint8Array.from([1]) }),
      ),
    )
      .toBe(true);
  });
});

describe("header blocks", () => {
  function frames(block: Uint8Array, maxFrameSize: number, endStream: boolean): Frame[] {
    const out: Frame[] = [];
    const pieces = headerBlockFrames(block, { streamId: 7, maxFrameSize, endStream });
    for (let i = 0; i < pieces.length; i++) {
      const h = Buffer.from(pieces[i]);
      expect(h.length).toBe(9);
      const length = (h[0] << 16) | (h[1] << 8) | h[2];
      const payload = length === 0 ? new Uint8Array(0) : pieces[++i];
      expect(payload.length).toBe(length);
      out.push({ type: h[3], flags: h[4], streamId: h.readUInt32BE(5), payload });
    }
    return out;
  }

  for (const size of [0, 1, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE + 1, 3 * DEFAULT_MAX_FRAME_SIZE]) {
    test(`a block of ${size} bytes splits into HEADERS + CONTINUATIONs and is collected again`, () => {
      const block = new Uint8Array(size).map((_, i) => i);
      const fs = frames(block, DEFAULT_MAX_FRAME_SIZE, true);
      expect(fs.length).toBe(Math.max(1, Math.ceil(size / DEFAULT_MAX_FRAME_SIZE)));
      expect(fs.map((f) => f.type)).toEqual(fs.map((_, i) => (i === 0 ? HEADERS : CONTINUATION)));
      expect(fs[0].flags & FLAG_END_STREAM).toBe(FLAG_END_STREAM);
      expect(fs.map((f) => f.flags & FLAG_END_HEADERS)).toEqual(
        fs.map((_, i) => (i === fs.length - 1 ? 4 : 0)),
      );
      const r = new HeaderBlockReader();
      let got = null;
      for (const f of fs) {
        expect(r.interleaved(f)).toBeNull();
        got = r.read(f);
      }
      expect(got).toEqual({ streamId: 7, endStream: true, bytes: expect.anything() });
      expect([...(got as { bytes: Uint8Array }).bytes]).toEqual([...block]);
    });
  }

  test("padding and priority are stripped from HEADERS", () => {
    const payload = Uint8Array.from([1, 0, 0, 0, 3, 16, 0x82, 0x86, 0]);
    const got = new HeaderBlockReader().read({
      type: HEADERS,
      flags: FLAG_PADDED | FLAG_PRIORITY | FLAG_END_HEADERS,
      streamId: 1,
      payload,
    });
    expect(got).toEqual({ streamId: 1, endStream: false, bytes: Uint8Array.from([0x82, 0x86]) });
  });

  test("a frame between HEADERS and its CONTINUATION, a stray CONTINUATION and an endless block are errors", () => {
    const r = new HeaderBlockReader(100);
    expect(r.read({ type: HEADERS, flags: 0, streamId: 1, payload: new Uint8Array(10) })).toBeNull();
    expect(r.interleaved({ type: DATA, flags: 0, streamId: 1, payload: new Uint8Array(0) })?.code)
      .toBe(ErrorCode.PROTOCOL_ERROR);
    const c = (n: number): Frame => ({
      type: CONTINUATION,
      flags: 0,
      streamId: 1,
      payload: new Uint8Array(n),
    });
    expect(r.read(c(50))).toBeNull();
    expect(r.read(c(50))).toEqual({ code: ErrorCode.ENHANCE_YOUR_CALM, message: "header block too large" });
    expect(new HeaderBlockReader().read(c(1))).toEqual({
      code: ErrorCode.PROTOCOL_ERROR,
      message: "CONTINUATION without HEADERS",
    });
  });
});
