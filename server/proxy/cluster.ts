/**
 * The proxy's Cluster service and its registration (etcd's grpcproxy cluster.go and
 * register.go). With --resolver-prefix, the proxy keeps `<prefix>/<advertise-client-url>`
 * under a --resolver-ttl lease, renewed while it runs, so its peers and clients can list
 * the proxies. MemberList, when the proxy advertises an address (etcd 3.4's default
 * does), answers the registered proxies, or the proxy itself when none is: a client that
 * syncs its endpoints from MemberList keeps talking to proxies. Otherwise it passes through.
 */
import * as os from "node:os";
import { create } from "@bufbuild/protobuf";
import {
  Cluster,
  KV,
  Lease,
  MemberListResponseSchema,
  MemberSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Client } from "../../client/client.ts";
import type { ImplOf } from "../grpc/server.ts";
import { log } from "../log.ts";
import { prefixEnd } from "../../api/keys.ts";
import { forwardService, upstreamCall, upstreamError } from "./forward.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** The registration's value, as clientv3/naming/endpoints stores an Add update. */
function endpointValue(addr: string): string {
  return JSON.stringify({ Op: 0, Addr: addr, Metadata: JSON.stringify({ name: os.hostname() }) });
}

/** Waits `ms`, or less when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/**
 * Keeps `<prefix>/<addr>` registered under a lease of `ttlSeconds` until `signal` aborts:
 * a lost lease (partition, restart of the cluster) is replaced, once a second at most.
 */
export async function register(
  client: Client,
  opts: { prefix: string; addr: string; ttlSeconds: number; signal: AbortSignal },
): Promise<void> {
  const lease = client.service(Lease);
  while (!opts.signal.aborted) {
    const started = Date.now();
    try {
      const g = await lease.leaseGrant({ TTL: BigInt(opts.ttlSeconds) });
      await client.service(KV).put({
        key: enc(`${opts.prefix}/${opts.addr}`),
        value: enc(endpointValue(opts.addr)),
        lease: g.ID,
      });
      log.info(`registered "${opts.addr}" with ${opts.ttlSeconds}-second lease`);
      const ka = lease.leaseKeepAlive({ signal: opts.signal });
      const every = Math.max(500, (opts.ttlSeconds * 1000) / 3);
      while (!opts.signal.aborted) {
        await ka.send({ ID: g.ID });
        const r = await ka.read();
        if (r === undefined || r.TTL <= 0n) break;
        await sleep(every, opts.signal);
      }
      ka.cancel();
      if (opts.signal.aborted) {
        await lease.leaseRevoke({ ID: g.ID }).catch(() => {});
        return;
      }
      log.warn("session expired; possible network partition or server restart");
    } catch (e) {
      if (opts.signal.aborted) return;
      log.warn(`failed to create a session ${(e as Error).message}`);
    }
    await sleep(Math.max(0, 1000 - (Date.now() - started)), opts.signal);
  }
}

export function clusterProxy(
  client: Client,
  opts: { advertiseClientUrl: string; resolverPrefix: string },
): ImplOf<typeof Cluster> {
  const forward = forwardService(Cluster, client);
  if (opts.advertiseClientUrl === "") return forward;
  const self = () =>
    create(MemberListResponseSchema, {
      members: [create(MemberSchema, { name: os.hostname(), clientURLs: [opts.advertiseClientUrl] })],
    });
  return {
    ...forward,
    memberList: async (_req, ctx) => {
      if (opts.resolverPrefix === "") return self();
      const key = enc(`${opts.resolverPrefix}/`);
      try {
        const r = await client.service(KV).range({ key, rangeEnd: prefixEnd(key) }, upstreamCall(ctx));
        const members = r.kvs.map((kv) => {
          const u = JSON.parse(new TextDecoder().decode(kv.value)) as { Addr: string; Metadata?: string };
          const name = (JSON.parse(u.Metadata ?? "{}") as { name?: string }).name ?? "";
          return create(MemberSchema, { name, clientURLs: [u.Addr] });
        });
        return members.length > 0 ? create(MemberListResponseSchema, { members }) : self();
      } catch (e) {
        return upstreamError(e);
      }
    },
  };
}
