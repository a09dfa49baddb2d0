/**
 * A fault-injecting proxy in front of one member's peer port: the cluster advertises the
 * proxy's URL, so every Raft message to that member passes through it and can be refused
 * by sender (the X-Server-From header every member sends), which is how tests cut links
 * to build partitions and heal them.
 */
import type { Server } from "bun";

/** Decides whether a message from `from` (member ID hex) may reach the proxied member. */
export type LinkFilter = (from: string) => boolean;

export class PeerProxy {
  readonly url: string;
  readonly #server: Server<unknown>;
  #filter: LinkFilter = () => true;

  private constructor(server: Server<unknown>) {
    this.#server = server;
    this.url = `http://127.0.0.1:${server.port}`;
  }

  /** Listens on `port` and forwards to `target` (a peer URL). */
  static start(port: number, target: string): PeerProxy {
    let self: PeerProxy | null = null;
    const server = Bun.serve({
      port,
      hostname: "127.0.0.1",
      async fetch(req) {
        const from = req.headers.get("X-Server-From") ?? "";
        if (self !== null && from !== "" && !self.#filter(from)) {
          // Like a dropped packet: the sender sees a failed delivery.
          return new Response("partitioned by test", { status: 503 });
        }
        const u = new URL(req.url);
        try {
          return await fetch(target + u.pathname + u.search, {
            method: req.method,
            headers: req.headers,
            body: req.method === "GET" ? undefined : await req.arrayBuffer(),
            signal: AbortSignal.timeout(10_000),
          });
        } catch {
          return new Response("peer unreachable", { status: 502 });
        }
      },
    });
    self = new PeerProxy(server);
    return self;
  }

  /** Lets through only what `filter` accepts (by sender). */
  setFilter(filter: LinkFilter): void {
    this.#filter = filter;
  }

  stop(): void {
    this.#server.stop(true);
  }
}
