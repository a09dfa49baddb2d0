/**
 * The Lease service. Grant and Revoke go through the log like any write; KeepAlive and
 * TimeToLive are answered by the leader's lessor (a follower forwards them, see
 * lease/forward.ts); Leases lists what this member's store holds.
 */
import { create } from "@bufbuild/protobuf";
import { Code, Errors, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type {
  Lease,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { MvccStore } from "../../store/mvcc.ts";
import type { Outcome } from "../apply/apply.ts";
import { MAX_LEASE_TTL } from "../../store/lease.ts";
import type { ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import type { LeaderLink, LocalLeases } from "../lease/forward.ts";
import type { Lessor, RenewRefusal } from "../lease/lessor.ts";

export interface LeaseDeps {
  readonly member: Member;
  readonly store: MvccStore;
  readonly lessor: Lessor;
  /** etcd's minimum TTL: ceil(1.5 election timeouts) in seconds; shorter grants get it. */
  readonly minTtl: bigint;
  /** How to reach the leader's lessor from a follower; null for a cluster of one. */
  readonly leader: LeaderLink | null;
  /** How long to look for a leader before answering "request timed out". */
  readonly requestTimeoutMs: number;
}

/** etcd's minimum lease TTL for an election timeout (etcdserver: (3*electionTicks/2) heartbeats, rounded up to seconds). */
export function minLeaseTtl(opts: { heartbeatMs: number; electionMs: number }): bigint {
  const ticks = Math.max(1, Math.round(opts.electionMs / opts.heartbeatMs));
  return BigInt(Math.ceil((Math.floor((3 * ticks) / 2) * opts.heartbeatMs) / 1000));
}

/** The lease operations only the leader answers, with forwarding; shared by the service and the peer routes. */
export class LeaseFront implements LocalLeases {
  readonly #deps: LeaseDeps;

  constructor(deps: LeaseDeps) {
    this.#deps = deps;
  }

  /** Renews on this member's lessor, waiting for apply to catch up if the lease is not known yet. */
  async renewHere(id: bigint): Promise<bigint | RenewRefusal> {
    const r = await this.#deps.lessor.renew(id);
    if (r !== Errors.LeaseNotFound || !(await this.#caughtUp())) return r;
    return await this.#deps.lessor.renew(id);
  }

  async timeToLiveHere(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse | RenewRefusal> {
    const { lessor, store } = this.#deps;
    if (!lessor.primary) return "not-primary";
    let t = lessor.timeToLive(req.ID);
    if (t === null && (await this.#caughtUp())) t = lessor.timeToLive(req.ID);
    if (t === null) return Errors.LeaseNotFound;
    return {
      $typeName: "etcdserverpb.LeaseTimeToLiveResponse",
      ID: req.ID,
      TTL: t.ttl,
      grantedTTL: t.grantedTtl,
      keys: req.keys ? store.leaseKeys(req.ID) : [],
    };
  }

  /** A keep-alive: the leader's lessor renews, wherever it is. */
  renew(id: bigint): Promise<bigint | EtcdError> {
    return this.#atLeader((link) => (link === null ? this.renewHere(id) : link.renew(id)));
  }

  timeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse | EtcdError> {
    return this.#atLeader((link) => (link === null ? this.timeToLiveHere(req) : link.timeToLive(req)));
  }

  // Runs `op` here if we lead, else through the link; retries while leadership moves.
  async #atLeader<T>(op: (link: LeaderLink | null) => Promise<T | RenewRefusal>): Promise<T | EtcdError> {
    const deadline = Date.now() + this.#deps.requestTimeoutMs;
    for (;;) {
      const here = this.#deps.member.isLeader || this.#deps.leader === null;
      const r = await op(here ? null : this.#deps.leader);
      if (r !== "not-primary") return r;
      if (Date.now() > deadline) return Errors.Timeout;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // True if this member was behind its commit index and has now applied it (bounded wait).
  async #caughtUp(): Promise<boolean> {
    const m = this.#deps.member;
    const target = m.raftIndex;
    if (m.appliedIndex >= target) return false;
    const deadline = Date.now() + 1000;
    while (m.appliedIndex < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    return true;
  }
}

/** Picks lease IDs for grants without one: positive, prefixed by the member, like etcd's reqIDGen. */
export class LeaseIdGenerator {
  #next: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.#next = ((memberId & 0xffffn) << 48n) | ((BigInt(nowMs) << 8n) & ((1n << 48n) - 1n));
  }

  next(): bigint {
    const id = this.#next++ & ((1n << 63n) - 1n);
    return id === 0n ? this.next() : id;
  }
}

function answer<T>(deps: LeaseDeps, o: Outcome | EtcdError): T | EtcdError {
  if (isEtcdError(o)) return o;
  if (!o.ok) return o.error;
  if (o.response === null) return etcdError(Code.Internal, "etcdts: apply produced no response");
  const r = o.response as unknown as { header?: unknown };
  r.header = responseHeader(deps.member, o.revision);
  return r as T;
}

/** The Lease service. */
export function leaseService(deps: LeaseDeps, front: LeaseFront): ImplOf<typeof Lease> {
  const { member, store } = deps;
  const ids = new LeaseIdGenerator(member.memberId, Date.now());
  const header = () => responseHeader(member, store.currentRevision());
  return {
    async leaseGrant(req) {
      if (req.TTL > MAX_LEASE_TTL) return Errors.LeaseTTLTooLarge;
      const ttl = req.TTL < deps.minTtl ? deps.minTtl : req.TTL;
      for (;;) {
        const ID = req.ID !== 0n ? req.ID : ids.next();
        const o = await member.propose(create(InternalRaftRequestSchema, { leaseGrant: { ID, TTL: ttl } }));
        const r = answer<LeaseGrantResponse>(deps, o);
        // A server-chosen ID that happens to exist: choose again, as etcd's generator never repeats.
        if (r === Errors.LeaseExist && req.ID === 0n) continue;
        return r;
      }
    },
    async leaseRevoke(req) {
      return answer(deps, await member.propose(create(InternalRaftRequestSchema, { leaseRevoke: req })));
    },
    async leaseKeepAlive(input, out, ctx) {
      for await (const req of input) {
        // The header is taken before renewing, as etcd does: a revoke can only come after it.
        const hdr = header();
        const ttl = await front.renew(req.ID);
        if (ctx.signal.aborted) return;
        if (isEtcdError(ttl) && ttl !== Errors.LeaseNotFound) return ttl;
        const resp: LeaseKeepAliveResponse = {
          $typeName: "etcdserverpb.LeaseKeepAliveResponse",
          header: hdr,
          ID: req.ID,
          TTL: isEtcdError(ttl) ? 0n : ttl,
        };
        if (!out.send(resp)) await out.drained();
      }
    },
    async leaseTimeToLive(req) {
      const r = await front.timeToLive(req);
      if (r === Errors.LeaseNotFound) {
        return {
          $typeName: "etcdserverpb.LeaseTimeToLiveResponse",
          header: header(),
          ID: req.ID,
          TTL: -1n,
          grantedTTL: 0n,
          keys: [],
        };
      }
      if (isEtcdError(r)) return r;
      r.header = header();
      return r;
    },
    async leaseLeases() {
      return {
        $typeName: "etcdserverpb.LeaseLeasesResponse",
        header: header(),
        leases: deps.lessor.list().map((ID) => ({ $typeName: "etcdserverpb.LeaseStatus" as const, ID })),
      };
    },
  };
}
