/**
 * The proxy's Lease service with keep-alive coalescing (etcd's grpcproxy lease.go): the
 * keep-alives of every client stream for one lease that arrive while one is already on
 * its way upstream wait for that one's answer instead of sending their own, so N clients
 * keeping one lease alive cost the member one keep-alive per round trip, not N. All keep-
 * alives of one caller (token) share one upstream stream. TimeToLive's keys are seen
 * through --namespace; the other methods pass through.
 */
import {
  Lease,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { BidiStream, Client } from "../../client/client.ts";
import type { EtcdError } from "../../api/errors.ts";
import { isEtcdError } from "../../api/errors.ts";
import type { ImplOf } from "../grpc/server.ts";
import { forwardService, upstreamError } from "./forward.ts";
import type { Namespace } from "./namespace.ts";

type Waiter = (r: LeaseKeepAliveResponse | EtcdError) => void;

/** One upstream keep-alive stream and the leases waiting on it. */
class KeepAliveChannel {
  readonly #stream: BidiStream<{ ID: bigint }, LeaseKeepAliveResponse>;
  readonly #waiting = new Map<bigint, Waiter[]>();
  /** Upstream keep-alives sent for clients that were waiting on one already. */
  coalesced = 0;
  closed = false;

  constructor(stream: BidiStream<{ ID: bigint }, LeaseKeepAliveResponse>, onClose: () => void) {
    this.#stream = stream;
    void this.#pump().finally(() => {
      this.closed = true;
      onClose();
    });
  }

  keepAlive(id: bigint): Promise<LeaseKeepAliveResponse | EtcdError> {
    return new Promise((resolve) => {
      const waiters = this.#waiting.get(id);
      if (waiters !== undefined) {
        this.coalesced++;
        waiters.push(resolve);
        return;
      }
      this.#waiting.set(id, [resolve]);
      this.#stream.send({ ID: id }).catch(() => {});
    });
  }

  async #pump(): Promise<void> {
    let failure: EtcdError | undefined;
    try {
      for await (const r of this.#stream) {
        const waiters = this.#waiting.get(r.ID);
        this.#waiting.delete(r.ID);
        for (const w of waiters ?? []) w(r);
      }
    } catch (e) {
      failure = upstreamError(e);
    }
    const err = failure ?? upstreamError(new Error("lease keep-alive stream ended"));
    for (const ws of this.#waiting.values()) for (const w of ws) w(err);
    this.#waiting.clear();
  }
}

/** The Lease service of a proxy, and how many keep-alives it saved the member. */
export function leaseProxy(
  client: Client,
  ns: Namespace | null,
): { service: ImplOf<typeof Lease>; coalesced: () => number } {
  const channels = new Map<string, KeepAliveChannel>();
  let coalescedByClosed = 0;
  const channel = (token: string): KeepAliveChannel => {
    let c = channels.get(token);
    if (c === undefined || c.closed) {
      const stream = client.service(Lease).leaseKeepAlive(token === "" ? {} : { metadata: { token } });
      const made: KeepAliveChannel = new KeepAliveChannel(stream, () => {
        coalescedByClosed += made.coalesced;
        if (channels.get(token) === made) channels.delete(token);
      });
      c = made;
      channels.set(token, c);
    }
    return c;
  };
  const forward = forwardService(Lease, client);
  const service: ImplOf<typeof Lease> = {
    ...forward,
    leaseTimeToLive: async (req, ctx) => {
      const r = await forward.leaseTimeToLive(req, ctx);
      return ns === null || isEtcdError(r) ? r : ns.leaseTimeToLive(r);
    },
    leaseKeepAlive: async (input: AsyncIterable<LeaseKeepAliveRequest>, out, ctx) => {
      const token = typeof ctx.headers.token === "string" ? ctx.headers.token : "";
      let failed: EtcdError | undefined;
      const pending = new Set<Promise<void>>();
      for await (const req of input) {
        if (failed !== undefined) break;
        const p = channel(token).keepAlive(req.ID).then((r) => {
          if (isEtcdError(r)) failed = r;
          else if (!out.closed) out.send(r);
        });
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await Promise.all(pending);
      return failed;
    },
  };
  return {
    service,
    coalesced: () => coalescedByClosed + [...channels.values()].reduce((n, c) => n + c.coalesced, 0),
  };
}
