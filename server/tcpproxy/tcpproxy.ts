/**
 * etcd's L4 gateway (proxy/tcpproxy): every accepted connection is piped to the next
 * active endpoint in round-robin order. An endpoint that refuses a dial is marked
 * inactive and skipped; every retry interval a monitor dials the inactive ones and
 * reactivates those that answer. Bytes are not looked at, so anything (gRPC, TLS,
 * HTTP/1.1) passes through.
 */
import * as net from "node:net";
import { log } from "../log.ts";

/** One upstream endpoint, `host:port`. */
interface Remote {
  readonly host: string;
  readonly port: number;
  readonly addr: string;
  inactive: boolean;
}

export interface TcpProxyOptions {
  /** `host:port` endpoints, in round-robin order. */
  readonly endpoints: readonly { host: string; port: number }[];
  /** How long an endpoint stays inactive before it is dialed again (etcd's --retry-delay). */
  readonly retryDelayMs: number;
}

function dial(host: string, port: number): Promise<net.Socket | Error> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const fail = (e: Error) => resolve(e);
    s.once("error", fail);
    s.once("connect", () => {
      s.off("error", fail);
      resolve(s);
    });
  });
}

export class TcpProxy {
  readonly #remotes: Remote[];
  readonly #retryDelayMs: number;
  #pickCount = 0;
  #monitor: ReturnType<typeof setInterval> | undefined;
  readonly #conns = new Set<net.Socket>();

  constructor(opts: TcpProxyOptions) {
    this.#remotes = opts.endpoints.map((e) => ({ ...e, addr: `${e.host}:${e.port}`, inactive: false }));
    this.#retryDelayMs = opts.retryDelayMs;
  }

  /** Starts the reactivation monitor and serves `server`'s connections. */
  run(server: net.Server): void {
    log.info("ready to proxy client requests", { endpoints: this.#remotes.map((r) => r.addr) });
    this.#monitor = setInterval(() => this.#reactivate(), this.#retryDelayMs);
    server.on("connection", (socket) => void this.#serve(socket));
  }

  stop(): void {
    clearInterval(this.#monitor);
    for (const c of this.#conns) c.destroy();
  }

  /** The next active remote in round-robin order, or undefined when none is. */
  #pick(): Remote | undefined {
    for (let i = 0; i < this.#remotes.length; i++) {
      const r = this.#remotes[this.#pickCount++ % this.#remotes.length];
      if (!r.inactive) return r;
    }
    return undefined;
  }

  async #serve(client: net.Socket): Promise<void> {
    client.pause();
    client.on("error", () => {}); // a reset client only ends its pipe
    let upstream: net.Socket | undefined;
    for (let remote = this.#pick(); remote !== undefined; remote = this.#pick()) {
      const r = await dial(remote.host, remote.port);
      if (!(r instanceof Error)) {
        upstream = r;
        break;
      }
      remote.inactive = true;
      log.warn("deactivated endpoint", {
        address: remote.addr,
        interval: this.#retryDelayMs / 1000, // zap.NewProduction: a duration in seconds
        error: r.message,
      });
    }
    if (upstream === undefined || client.destroyed) {
      client.destroy();
      upstream?.destroy();
      return;
    }
    const up = upstream;
    this.#conns.add(client).add(up);
    up.on("error", () => {});
    const close = () => {
      client.destroy();
      up.destroy();
      this.#conns.delete(client);
      this.#conns.delete(up);
    };
    client.on("close", close);
    up.on("close", close);
    client.pipe(up);
    up.pipe(client);
    client.resume();
  }

  #reactivate(): void {
    for (const r of this.#remotes) {
      if (!r.inactive) continue;
      void dial(r.host, r.port).then((s) => {
        if (s instanceof Error) {
          log.warn("failed to activate endpoint (stay inactive for another interval)", {
            address: r.addr,
            interval: this.#retryDelayMs / 1000, // zap.NewProduction: a duration in seconds
            error: s.message,
          });
          return;
        }
        s.destroy();
        r.inactive = false;
        log.info("activated", { address: r.addr });
      });
    }
  }
}
