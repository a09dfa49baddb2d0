/**
 * A gateway request body read the way grpc-gateway's json.Decoder reads it: one JSON value
 * at a time, each as soon as it is complete. A unary call takes the first value and
 * ignores the rest, so it is answered without waiting for the body to end — which a
 * WebSocket's body (its messages) never does while the socket is open.
 */
import { Code } from "../../api/errors.ts";
import { JsonValueSplitter } from "./json.ts";
import { yieldEvery } from "../turns.ts";

/**
 * The most JSON text one request value may take, for a gRPC limit of `maxMessageBytes`:
 * bytes fields travel as base64 (4/3) and every field adds its quoted name, so twice the
 * message limit holds any message the gRPC side would take. Beyond it a value is refused
 * before it is buffered (etcd's gateway decodes all of it and lets gRPC refuse it).
 */
export function maxJsonBytes(maxMessageBytes: number): number {
  return 2 * maxMessageBytes;
}

/**
 * The next value, the end of the body, or Go's syntax error text (`code`: the gRPC code
 * to answer with when it is not a syntax error).
 */
export type BodyValue =
  | { readonly value: unknown }
  | { readonly end: true }
  | { readonly error: string; readonly code?: Exclude<Code, 0> };

/**
 * The most text split into values in one step. A read can be 512 KiB (Bun reads that much
 * at a time), ~35,000 keep-alives, which took 10-20 ms to split and parse in one go; in
 * slices, a stream's pump (gateway.ts) can give the event loop its turn between them.
 */
const SPLIT_SLICE_CHARS = 64 * 1024;

/**
 * Splitting yields the event loop its turn after this long. One value may be 2 × the
 * message limit of text (3 MiB by default), all of it split before the value is complete
 * or refused: in one go, refusing a too-large body held other clients up 80-140 ms.
 */
const SPLIT_TURN_MS = 5;

/** The one reader method this uses (DOM and node:stream/web readers both have it). */
interface ChunkReader {
  read(): Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>;
}

export class JsonBody {
  readonly #reader: ChunkReader | null;
  readonly #splitter: JsonValueSplitter;
  readonly #decoder = new TextDecoder();
  readonly #ready: unknown[] = [];
  /** Text read and not split yet. */
  #text = "";
  #ended = false;
  readonly #turn = yieldEvery(SPLIT_TURN_MS);

  /** `maxValueBytes`: the JSON text one value may take (leading whitespace included). */
  constructor(body: ReadableStream<Uint8Array> | null, maxValueBytes = Infinity) {
    this.#splitter = new JsonValueSplitter(maxValueBytes);
    this.#reader = body?.getReader() ?? null;
    if (this.#reader === null) this.#ended = true;
  }

  /** The next value; a dropped connection reads as the end. */
  async next(): Promise<BodyValue> {
    for (;;) {
      const value = this.#ready.shift();
      if (value !== undefined) return { value };
      const error = this.#splitter.error;
      if (error !== null) {
        return this.#splitter.tooLarge ? { error, code: Code.ResourceExhausted } : { error };
      }
      if (this.#text !== "") {
        const wait = this.#turn();
        if (wait !== null) await wait;
        const slice = this.#text.slice(0, SPLIT_SLICE_CHARS);
        this.#text = this.#text.slice(slice.length);
        this.#ready.push(...this.#splitter.push(slice));
        continue;
      }
      if (this.#ended) return this.#splitter.incomplete ? { error: "unexpected EOF" } : { end: true };
      const chunk = await this.#reader!.read().catch(() => null);
      if (chunk === null || chunk.done) this.#ended = true;
      else this.#text = this.#decoder.decode(chunk.value, { stream: true });
    }
  }

  /**
   * Reads and drops the rest in the background: a unary call wants only the first value,
   * and cancelling a request body could take the connection (and the answer) with it.
   */
  drain(): void {
    const reader = this.#reader;
    if (reader === null || this.#ended) return;
    this.#ended = true;
    (async () => {
      try {
        while (!(await reader.read()).done) { /* dropped */ }
      } catch {
        // the client went away; nothing to drain
      }
    })();
  }
}
