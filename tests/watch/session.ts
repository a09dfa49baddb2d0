/**
 * A raw Watch stream for tests: send create / cancel / progress requests and read the
 * responses one at a time, each read bounded so a missing response fails instead of hanging.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  KV,
  Watch,
  type WatchCreateRequestSchema,
  type WatchResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { type BidiStream, Client, type ServiceClient } from "../../client/mod.ts";

export const enc = (s: string) => new TextEncoder().encode(s);
export const dec = (b: Uint8Array) => new TextDecoder().decode(b);

type Create = MessageInitShape<typeof WatchCreateRequestSchema>;

/** One Watch call: requests go out with `create`/`cancel`/`progress`, responses come back with `next`. */
export class WatchSession {
  readonly #stream: BidiStream<any, WatchResponse>;
  readonly #buffered: WatchResponse[] = [];
  #waiter: (() => void) | null = null;
  #ended: unknown = null;
  #done = false;

  constructor(client: Client) {
    // No deadline: a watch lives until it is closed (the client's call timeout is for unary calls).
    const stream = client.service(Watch).watch({ timeoutMs: 0 }) as BidiStream<any, WatchResponse>;
    this.#stream = stream;
    (async () => {
      try {
        for await (const r of stream) {
          this.#buffered.push(r);
          this.#waiter?.();
        }
      } catch (e) {
        this.#ended = e;
      }
      this.#done = true;
      this.#waiter?.();
    })();
  }

  create(req: Create): Promise<void> {
    return this.#stream.send({ requestUnion: { case: "createRequest", value: req } });
  }

  cancel(watchId: bigint): Promise<void> {
    return this.#stream.send({ requestUnion: { case: "cancelRequest", value: { watchId } } });
  }

  progress(): Promise<void> {
    return this.#stream.send({ requestUnion: { case: "progressRequest", value: {} } });
  }

  /** The next response; fails after `timeoutMs` (a bound, not a timing assertion). */
  async next(timeoutMs = 10_000): Promise<WatchResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.#buffered.shift();
      if (r !== undefined) return r;
      if (this.#done) throw new Error(`watch stream ended: ${String(this.#ended)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no watch response within the bound");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#waiter = null;
    }
  }

  /** Creates a watcher and returns its created response. */
  async watch(req: Create): Promise<WatchResponse> {
    await this.create(req);
    return await this.next();
  }

  /**
   * Asks for progress and returns every response that came before the progress answer
   * (a barrier: what arrives before it was sent before it).
   */
  async drainUntilProgress(): Promise<WatchResponse[]> {
    await this.progress();
    const before: WatchResponse[] = [];
    for (;;) {
      const r = await this.next();
      if (r.watchId === -1n && !r.created && !r.canceled && r.events.length === 0) return before;
      before.push(r);
    }
  }

  close(): void {
    this.#stream.cancel();
  }
}

/** A KV stub and a Watch session factory on one connection. */
export function connect(
  endpoint: string,
): { client: Client; kv: ServiceClient<typeof KV>; session(): WatchSession } {
  const client = new Client({ endpoints: [endpoint], callTimeoutMs: 10_000 });
  return { client, kv: client.service(KV), session: () => new WatchSession(client) };
}
