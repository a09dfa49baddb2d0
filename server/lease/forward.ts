/**
 * Keep-alives and TimeToLive reach the leader's lessor: a follower forwards them over the
 * peer port, on etcd's paths (/leases, /leases/internal), with protobuf bodies. Answers:
 * 200 with the response message, 404 for an unknown lease, 503 when the receiver is not
 * (or no longer) the leader, so the sender looks for the leader again.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Errors, isEtcdError } from "../../api/errors.ts";
import {
  type LeaseKeepAliveRequest,
  LeaseKeepAliveRequestSchema,
  LeaseKeepAliveResponseSchema,
  type LeaseTimeToLiveRequest,
  LeaseTimeToLiveRequestSchema,
  type LeaseTimeToLiveResponse,
  LeaseTimeToLiveResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { PeerTransport } from "../peer.ts";
import type { RenewRefusal } from "./lessor.ts";

export const RENEW_PATH = "/leases";
export const TTL_PATH = "/leases/internal";

/** What the leader answers locally (the Lease service's own view). */
export interface LocalLeases {
  renewHere(id: bigint): Promise<bigint | RenewRefusal>;
  timeToLiveHere(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse | RenewRefusal>;
}

/** Where a follower sends what only the leader can answer. */
export interface LeaderLink {
  renew(id: bigint): Promise<bigint | RenewRefusal>;
  timeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse | RenewRefusal>;
}

function refusal(r: RenewRefusal): Response {
  return r === "not-primary"
    ? new Response("not leader", { status: 503 })
    : new Response(r.message, { status: 404 });
}

/** Serves forwarded keep-alives and TimeToLive on the peer port. */
export function serveLeaseRoutes(transport: PeerTransport, local: LocalLeases): void {
  transport.route(RENEW_PATH, async (body) => {
    const req = fromBinary(LeaseKeepAliveRequestSchema, body);
    const r = await local.renewHere(req.ID);
    if (typeof r !== "bigint") return refusal(r);
    return new Response(
      toBinary(LeaseKeepAliveResponseSchema, {
        $typeName: "etcdserverpb.LeaseKeepAliveResponse",
        ID: req.ID,
        TTL: r,
      }),
    );
  });
  transport.route(TTL_PATH, async (body) => {
    const r = await local.timeToLiveHere(fromBinary(LeaseTimeToLiveRequestSchema, body));
    if (r === "not-primary" || isEtcdError(r)) return refusal(r);
    return new Response(toBinary(LeaseTimeToLiveResponseSchema, r));
  });
}

/** A LeaderLink over the peer transport to whoever `leaderId()` names. */
export function peerLeaderLink(transport: PeerTransport, leaderId: () => bigint): LeaderLink {
  async function call(path: string, body: Uint8Array): Promise<Uint8Array | RenewRefusal> {
    const leader = leaderId();
    if (leader === 0n) return "not-primary";
    const res = await transport.post(leader, path, body);
    if (res === null) return "not-primary";
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.status === 200) return bytes;
    if (res.status === 404) return Errors.LeaseNotFound;
    return "not-primary";
  }
  return {
    async renew(id) {
      const req: LeaseKeepAliveRequest = { $typeName: "etcdserverpb.LeaseKeepAliveRequest", ID: id };
      const r = await call(RENEW_PATH, toBinary(LeaseKeepAliveRequestSchema, req));
      return r instanceof Uint8Array ? fromBinary(LeaseKeepAliveResponseSchema, r).TTL : r;
    },
    async timeToLive(req) {
      const r = await call(TTL_PATH, toBinary(LeaseTimeToLiveRequestSchema, req));
      return r instanceof Uint8Array ? fromBinary(LeaseTimeToLiveResponseSchema, r) : r;
    },
  };
}
