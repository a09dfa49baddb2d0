/**
 * A socket for H2Connection that records what it is given, and a client's first bytes:
 * for tests of what the connection writes and when, without a network in between.
 */
import { EventEmitter } from "node:events";
import type { H2Socket } from "../../server/h2/connection.ts";
import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW,
  encodeFrame,
  encodeSettings,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  HEADERS,
  MAX_WINDOW,
  Setting,
  SETTINGS,
  u32,
  WINDOW_UPDATE,
} from "../../h2/frame.ts";
import { encodeHeaders } from "../../h2/hpack.ts";

/**
 * A socket that holds what it is given by reference, as Bun's node:net and node:tls do
 * with a write they cannot send yet: `send` ends the holding and calls the write's `done`.
 */
export class HoldingSocket extends EventEmitter implements H2Socket {
  /** Everything written: what the socket holds, and a copy of it as it was written. */
  readonly written: { data: Uint8Array; copy: Uint8Array }[] = [];
  readonly #pending: (() => void)[] = [];
  constructor(readonly blocked: boolean) {
    super();
  }
  write(data: Uint8Array, done?: () => void): boolean {
    this.written.push({ data, copy: Uint8Array.from(data) });
    if (done !== undefined) this.#pending.push(done);
    if (!this.blocked) this.send();
    return !this.blocked;
  }
  send(): void {
    for (const done of this.#pending.splice(0)) done();
  }
  end(): void {}
  destroy(): void {}
  pause(): void {}
}

/** A client's preface and one GET of `path` with room for the whole answer. */
export function clientBytes(path: string): Buffer {
  return Buffer.concat([
    CLIENT_PREFACE,
    encodeFrame({
      type: SETTINGS,
      flags: 0,
      streamId: 0,
      payload: encodeSettings([[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]]),
    }),
    encodeFrame({ type: WINDOW_UPDATE, flags: 0, streamId: 0, payload: u32(MAX_WINDOW - DEFAULT_WINDOW) }),
    encodeFrame({
      type: HEADERS,
      flags: FLAG_END_HEADERS | FLAG_END_STREAM,
      streamId: 1,
      payload: encodeHeaders([[":method", "GET"], [":scheme", "http"], [":path", path], [":authority", "x"]]),
    }),
  ]);
}
