/**
 * clientv3's lease keep-alive loop and concurrency.Session, for `lease keep-alive`, `lock`
 * and `elect`: one keep-alive stream, a request at once and then a third of the TTL after
 * each answer; the lease is gone when an answer says TTL 0 or the stream fails.
 */
import type { Client } from "../client/client.ts";
import type { LeaseKeepAliveResponse } from "../proto/gen/etcdserverpb/rpc_pb.ts";

/** concurrency's default session TTL, in seconds. */
export const DEFAULT_SESSION_TTL = 60;

/** A running keep-alive of one lease. */
export interface KeepAlive {
  /** Resolves when the lease expired, was revoked, or the stream broke (or `stop` was called). */
  readonly done: Promise<void>;
  stop(): void;
}

/** Keeps `id` alive, reporting each answer that keeps it alive. */
export async function keepAlive(
  client: Client,
  id: bigint,
  onResponse: (r: LeaseKeepAliveResponse) => void = () => {},
): Promise<KeepAlive> {
  const { Lease } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const stream = client.service(Lease).leaseKeepAlive();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    stream.cancel();
  };
  const done = (async () => {
    try {
      await stream.send({ ID: id });
      for await (const r of stream) {
        if (r.TTL <= 0n) break;
        onResponse(r);
        timer = setTimeout(() => {
          if (!stopped) stream.send({ ID: id }).catch(() => {});
        }, Number(r.TTL) * 1000 / 3);
      }
    } catch {
      // a broken stream ends the session, as clientv3's closed keep-alive channel does
    } finally {
      clearTimeout(timer);
      if (!stopped) stream.cancel();
    }
  })();
  return { done, stop };
}

/** A lease granted for the life of this process and kept alive (concurrency.NewSession). */
export interface Session extends KeepAlive {
  readonly lease: bigint;
}

/** Grants a lease of `ttl` seconds and keeps it alive. */
export async function newSession(client: Client, ttl: number): Promise<Session> {
  const { Lease } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const granted = await client.service(Lease).leaseGrant({ TTL: BigInt(ttl) });
  const ka = await keepAlive(client, granted.ID);
  return { lease: granted.ID, done: ka.done, stop: ka.stop };
}
