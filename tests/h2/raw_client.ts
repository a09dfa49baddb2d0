/**
 * A raw HTTP/2 client for tests: writes exactly the frames a test says (including broken
 * ones) and records every frame the server sends, so a test can wait for a GOAWAY, an
 * RST_STREAM or a stream's END_STREAM.
 */
import * as net from "node:net";
import { encodeHeaders, type HeaderField, HpackDecoder } from "../../h2/hpack.ts";
import {
  CLIENT_PREFACE,
  DATA,
  DEFAULT_WINDOW,
  encodeFrame,
  encodeSettings,
  FLAG_ACK,
  type Frame,
  FrameReader,
  HEADERS,
  PING,
  Setting,
  SETTINGS,
  WINDOW_UPDATE,
} from "../../h2/frame.ts";
import { waitFor } from "../harness.ts";

export class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  readonly #socket: net.Socket;
  readonly #reader = new FrameReader({ preface: false, maxFrameSize: 1 << 24 });
  readonly #hpack = new HpackDecoder();
  /** What the server lets us send: on the connection, and per stream beyond its initial window. */
  #connWindow = DEFAULT_WINDOW;
  #initialWindow = DEFAULT_WINDOW;
  readonly #streamCredit = new Map<number, number>();
  #onCredit: (() => void) | null = null;
  #answerPings = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#reader.push(chunk, (f) => {
        // Keep a copy: the frame is a view of the chunk.
        const copy = { ...f, payload: Uint8Array.from(f.payload) };
        this.frames.push(copy);
        this.#credit(copy);
        if (this.#answerPings && f.type === PING && (f.flags & FLAG_ACK) === 0) {
          socket.write(encodeFrame({ type: PING, flags: FLAG_ACK, streamId: 0, payload: copy.payload }));
        }
        if (f.type === SETTINGS && (f.flags & FLAG_ACK) === 0) {
          socket.write(
            encodeFrame({ type: SETTINGS, flags: FLAG_ACK, streamId: 0, payload: new Uint8Array(0) }),
          );
        }
      });
    });
    socket.on("close", () => this.closed = true);
    socket.on("error", () => {});
  }

  /** Connects and sends the preface and SETTINGS (`settings` as identifier/value pairs). */
  static async connect(
    port: number,
    settings: readonly (readonly [number, number])[] = [],
  ): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const c = new RawClient(socket);
    c.write(CLIENT_PREFACE);
    c.send({ type: SETTINGS, flags: 0, streamId: 0, payload: encodeSettings(settings) });
    return c;
  }

  /** From now on, ACK the server's PINGs as a live client library does (by default they go unanswered). */
  answerPings(): void {
    this.#answerPings = true;
  }

  write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** Writes `bytes`; resolves once the socket took them (or the connection is gone). */
  writeAndWait(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.#socket.write(bytes)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off("drain", done).off("close", done);
        resolve();
      };
      this.#socket.once("drain", done).once("close", done);
    });
  }

  send(f: Frame): void {
    this.write(encodeFrame(f));
  }

  /** A header block for a request (literals, no dynamic table). */
  static block(fields: readonly HeaderField[]): Uint8Array {
    return encodeHeaders(fields);
  }

  /** Sends a whole request's HEADERS (one frame, END_HEADERS). */
  request(streamId: number, fields: readonly HeaderField[], endStream: boolean): void {
    this.send({
      type: HEADERS,
      flags: 0x4 | (endStream ? 0x1 : 0),
      streamId,
      payload: RawClient.block(fields),
    });
  }

  /** Decodes the server's header blocks in order (its HPACK state), one per HEADERS frame. */
  decodeHeaders(f: Frame): HeaderField[] {
    let p = f.payload;
    if (f.flags & 0x8) p = p.subarray(1, p.length - p[0]);
    if (f.flags & 0x20) p = p.subarray(5);
    return this.#hpack.decode(p);
  }

  #credit(f: Frame): void {
    if (f.type === WINDOW_UPDATE) {
      const inc = u32At(f.payload, 0) & 0x7fffffff;
      if (f.streamId === 0) this.#connWindow += inc;
      else this.#streamCredit.set(f.streamId, (this.#streamCredit.get(f.streamId) ?? 0) + inc);
    } else if (f.type === SETTINGS && (f.flags & FLAG_ACK) === 0) {
      for (let off = 0; off + 6 <= f.payload.length; off += 6) {
        const id = (f.payload[off] << 8) | f.payload[off + 1];
        if (id === Setting.INITIAL_WINDOW_SIZE) this.#initialWindow = u32At(f.payload, off + 2);
      }
    } else return;
    const wake = this.#onCredit;
    this.#onCredit = null;
    wake?.();
  }

  /**
   * Sends `body` on `streamId` as DATA frames (16 KiB at most), never beyond the windows the
   * server granted. Returns how many bytes went out: all of them, or what went out before
   * the server stopped granting window for `stallMs`.
   */
  async sendWithinWindow(streamId: number, body: Uint8Array, stallMs: number): Promise<number> {
    let sent = 0;
    while (sent < body.length) {
      const stream = this.#initialWindow + (this.#streamCredit.get(streamId) ?? 0) - this.#sentOn(streamId);
      const n = Math.min(16384, body.length - sent, stream, this.#connWindow);
      if (n <= 0) {
        const more = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), stallMs);
          this.#onCredit = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        if (!more) return sent;
        continue;
      }
      this.send({ type: DATA, flags: 0, streamId, payload: body.subarray(sent, sent + n) });
      this.#sent.set(streamId, this.#sentOn(streamId) + n);
      this.#connWindow -= n;
      sent += n;
      // Let the socket take it (and WINDOW_UPDATEs arrive) before the next frame.
      if (this.#socket.writableLength > 1 << 20) await new Promise((r) => this.#socket.once("drain", r));
    }
    return sent;
  }

  readonly #sent = new Map<number, number>();
  #sentOn(streamId: number): number {
    return this.#sent.get(streamId) ?? 0;
  }

  /** Stops reading the socket (the server's writes back up), or reads it again. */
  pauseReading(paused: boolean): void {
    if (paused) this.#socket.pause();
    else this.#socket.resume();
  }

  async waitFrame(what: string, match: (f: Frame) => boolean): Promise<Frame> {
    let found: Frame | undefined;
    await waitFor(what, () => (found = this.frames.find(match)) !== undefined, { timeoutMs: 10_000 });
    return found!;
  }

  close(): void {
    this.#socket.destroy();
  }
}

export function u32At(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}
