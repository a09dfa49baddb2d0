/**
 * A raw HTTP/2 client for tests: writes exactly the frames a test says (including broken
 * ones) and records every frame the server sends, so a test can wait for a GOAWAY, an
 * RST_STREAM or a stream's END_STREAM.
 */
import * as net from "node:net";
import { encodeHeaders, type HeaderField, HpackDecoder } from "../../lib/hpack.ts";
import {
  CLIENT_PREFACE,
  encodeFrame,
  encodeSettings,
  FLAG_ACK,
  type Frame,
  FrameReader,
  HEADERS,
  SETTINGS,
} from "../../lib/h2_frame.ts";
import { waitFor } from "../harness.ts";

export class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  readonly #socket: net.Socket;
  readonly #reader = new FrameReader({ preface: false, maxFrameSize: 1 << 24 });
  readonly #hpack = new HpackDecoder();

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#reader.push(chunk, (f) => {
        // Keep a copy: the frame is a view of the chunk.
        const copy = { ...f, payload: Uint8Array.from(f.payload) };
        this.frames.push(copy);
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

  write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
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
