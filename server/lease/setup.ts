/**
 * Builds a member's lease machinery: the lessor, its proposals into the log, forwarding
 * over the peer port. What feeds the lessor (applied lease entries, snapshots, leadership)
 * is wired with every other event in serve.ts.
 */
import { create } from "@bufbuild/protobuf";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type { MvccStore } from "../../store/mvcc.ts";
import { parseGoDuration } from "../../lib/gofmt.ts";
import type { Member } from "../member.ts";
import type { PeerTransport } from "../peer.ts";
import { LeaseFront, leaseService, minLeaseTtl } from "../services/lease.ts";
import type { ImplOf } from "../grpc/server.ts";
import type { Lease, LeaseGrantRequest, LeaseGrantResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { EtcdError } from "../../api/errors.ts";
import { Lessor } from "./lessor.ts";
import { peerLeaderLink, serveLeaseRoutes } from "./forward.ts";

export interface LeaseSetupOptions {
  readonly member: Member;
  readonly store: MvccStore;
  /** The peer transport, for a cluster of more than one member. */
  readonly transport: PeerTransport | null;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  /** --experimental-lease-checkpoint-interval, a Go duration ("5m"). */
  readonly checkpointInterval: string;
}

/** The running lease machinery of one member. */
export interface Leases {
  readonly lessor: Lessor;
  readonly front: LeaseFront;
  readonly service: ImplOf<typeof Lease>;
  /** LeaseGrant for in-server callers (Lock and Election without a lease). */
  grant(req: LeaseGrantRequest): Promise<LeaseGrantResponse | EtcdError>;
  stop(): void;
}

/**
 * Must run before the member applies anything: the lessor's initial view is the store as
 * opened, and every later change comes from apply.
 */
export function setupLeases(opts: LeaseSetupOptions): Leases {
  const { member, store } = opts;
  const interval = parseGoDuration(opts.checkpointInterval);
  if (typeof interval !== "number") throw new Error(`invalid lease checkpoint interval: ${interval.error}`);
  const lessor = new Lessor({
    initial: store.leases(),
    checkpointIntervalMs: interval,
    propose: (p) => {
      const req = p.kind === "revoke"
        ? create(InternalRaftRequestSchema, { leaseRevoke: { ID: p.id } })
        : create(InternalRaftRequestSchema, {
          leaseCheckpoint: {
            checkpoints: p.checkpoints.map((c) => ({ ID: c.id, remainingTTL: c.remainingTtl })),
          },
        });
      // Fire and forget: a revoke that does not apply is proposed again by the expiry loop.
      void member.propose(req);
    },
  });
  const deps = {
    member,
    store,
    lessor,
    minTtl: minLeaseTtl({ heartbeatMs: opts.heartbeatMs, electionMs: opts.electionMs }),
    leader: opts.transport === null ? null : peerLeaderLink(opts.transport, () => member.leaderId),
    requestTimeoutMs: 5000 + 2 * opts.electionMs,
  };
  const front = new LeaseFront(deps);
  if (opts.transport !== null) serveLeaseRoutes(opts.transport, front);
  const service = leaseService(deps, front);
  const internal = { path: "", headers: {}, signal: new AbortController().signal };
  return {
    lessor,
    front,
    service,
    grant: async (req) => await service.leaseGrant(req, internal),
    stop: () => lessor.stop(),
  };
}
