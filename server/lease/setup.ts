/**
 * Wires leases into a member: the lessor fed by the store's applied lease entries and
 * by leadership changes, its proposals into the log, forwarding over the peer port.
 */
import { create } from "@bufbuild/protobuf";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type { StateMachine } from "../apply/state_machine.ts";
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
  readonly state: StateMachine;
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
 * Must run before the member applies anything (right after constructing it): the
 * lessor's initial view is the store as opened, and every later change comes from apply.
 */
export function setupLeases(opts: LeaseSetupOptions): Leases {
  const { member, state } = opts;
  const { store } = state;
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
  state.onLeaseChange((c) => lessor.applied(c));
  member.onSnapshotInstalled(() => lessor.restore(store.leases()));
  member.onLeaderChange((leading) => leading ? lessor.promote(opts.electionMs) : lessor.demote());
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
