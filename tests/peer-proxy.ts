/**
 * A fault-injecting TCP proxy in front of one member's peer port: the cluster advertises
 * the proxy's URL, so every connection to that member passes through it. Each connection
 * is classified by the sender named in its first request (the X-Server-From header every
 * member sends, also on its message stream's upgrade request), so tests can cut links —
 * refusing new connections and closing open ones — to build partitions, and heal them.
 */
import * as net from "node:net";

/** Decides whether a connection from `from` (member ID hex) may reach the proxied member. */
export type LinkFilter = (from: string) => boolean;

interface Link {
  readonly from: string;
  readonly sockets: net.Socket[];
}

export class PeerProxy {
  readonly url: string;
  readonly #server: net.Server;
  readonly #links = new Set<Link>();
  #filter: LinkFilter = () => true;

  private constructor(server: net.Server, port: number) {
    this.#server = server;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Listens on `port` and forwards to `target` (a peer URL). */
  static start(port: number, target: string): PeerProxy {
    const t = new URL(target);
    const server = net.createServer();
    const proxy = new PeerProxy(server, port);
    server.on("connection", (client) => proxy.#accept(client, Number(t.port), t.hostname));
    server.listen(port, "127.0.0.1");
    return proxy;
  }

  #accept(client: net.Socket, port: number, host: string): void {
    let head = Buffer.alloc(0);
    client.on("error", () => client.destroy());
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0 && head.length < 16384) return;
      client.off("data", onData);
      const from = /\r\nX-Server-From: *([0-9a-f]+)/i.exec(head.toString("latin1", 0, end))?.[1] ?? "";
      if (from !== "" && !this.#filter(from)) {
        client.destroy();
        return;
      }
      const upstream = net.connect(port, host);
      const link: Link = { from, sockets: [client, upstream] };
      this.#links.add(link);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.#links.delete(link);
      };
      upstream.on("error", drop);
      upstream.on("close", drop);
      client.on("close", drop);
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on("data", onData);
  }

  /** Lets through only what `filter` accepts (by sender); open links it rejects are cut. */
  setFilter(filter: LinkFilter): void {
    this.#filter = filter;
    for (const link of this.#links) {
      if (link.from !== "" && !filter(link.from)) { for (const s of link.sockets) s.destroy(); }
    }
  }

  stop(): void {
    for (const link of this.#links) for (const s of link.sockets) s.destroy();
    this.#server.close();
  }
}
