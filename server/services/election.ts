/**
 * The Election service (v3electionpb), etcd's concurrency.Election run inside the server.
 * Candidates are keys `<name>/<lease hex>`; the leader is the one created first; each
 * candidate waits only for the deletion of the one created just before it. A leader's
 * key vanishes with its lease, which hands leadership to the next candidate.
 */
import { Code, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import type { Election, LeaderKey } from "../../proto/gen/v3electionpb/v3election_pb.ts";
import type { ResponseHeader } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Event_EventType, type KeyValue } from "../../proto/gen/mvccpb/kv_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { AsyncQueue } from "../grpc/queue.ts";
import { type Keyspace, Op, rangeAt } from "../concurrency/keyspace.ts";
import { recipePrefix, sessionKey, type SessionLeases } from "../concurrency/session.ts";

// etcd returns these as plain Go errors, which gRPC sends as Unknown.
const NotLeader = etcdError(Code.Unknown, "election: not leader");
const NoLeader = etcdError(Code.Unknown, "election: no leader");
const MissingLeaderKey = etcdError(Code.Unknown, '"leader" field must be provided');
const Canceled = etcdError(Code.Canceled, "context canceled");

/** The Election service over a keyspace and the lease service. */
export function electionService(ks: Keyspace, leases: SessionLeases): ImplOf<typeof Election> {
  // Proclaim: a new value under the same key, only while the key is still ours.
  async function proclaim(leader: LeaderKey, value: Uint8Array): Promise<ResponseHeader | EtcdError> {
    const r = await ks.txnIfCreated(leader.key, leader.rev, {
      then: [Op.put(leader.key, value, leader.lease)],
    });
    if (isEtcdError(r)) return r;
    return r.succeeded ? r.header! : NotLeader;
  }
  async function resign(leader: LeaderKey): Promise<ResponseHeader | EtcdError> {
    const r = await ks.txnIfCreated(leader.key, leader.rev, { then: [Op.delete(leader.key)] });
    return isEtcdError(r) ? r : r.header!;
  }
  return {
    async campaign(req, ctx) {
      const lease = await leases.sessionLease(req.lease);
      if (isEtcdError(lease)) return lease;
      const pfx = recipePrefix(req.name);
      const key = sessionKey(pfx, lease);
      const resp = await ks.txnIfCreated(key, 0n, {
        then: [Op.put(key, req.value, lease)],
        else: [Op.get(key)],
      });
      if (isEtcdError(resp)) return resp;
      const leader: LeaderKey = { $typeName: "v3electionpb.LeaderKey", name: req.name, key, rev: 0n, lease };
      leader.rev = resp.succeeded ? resp.header!.revision : rangeAt(resp, 0)[0]?.createRevision ?? 0n;
      if (!resp.succeeded && !equal(rangeAt(resp, 0)[0]?.value, req.value)) {
        const p = await proclaim(leader, req.value);
        if (isEtcdError(p)) {
          await resign(leader);
          return p;
        }
      }
      const waited = await ks.waitDeletes(pfx, leader.rev - 1n, ctx.signal);
      if (waited === null) {
        await resign(leader);
        return Canceled;
      }
      return { $typeName: "v3electionpb.CampaignResponse", header: resp.header, leader };
    },
    async proclaim(req) {
      if (req.leader === undefined) return MissingLeaderKey;
      const h = await proclaim(req.leader, req.value);
      return isEtcdError(h) ? h : { $typeName: "v3electionpb.ProclaimResponse", header: h };
    },
    async leader(req) {
      const r = await ks.firstCreated(recipePrefix(req.name));
      if (isEtcdError(r)) return r;
      if (r.kvs.length === 0) return NoLeader;
      return { $typeName: "v3electionpb.LeaderResponse", header: r.header, kv: r.kvs[0] };
    },
    async resign(req) {
      if (req.leader === undefined) return MissingLeaderKey;
      const h = await resign(req.leader);
      return isEtcdError(h) ? h : { $typeName: "v3electionpb.ResignResponse", header: h };
    },
    async observe(req, out, ctx) {
      // concurrency's observe: the current leader, its every new value, then the next leader.
      const pfx = recipePrefix(req.name);
      const events = new AsyncQueue<{ type: Event_EventType; kv: KeyValue }>();
      const stop = ks.follow(pfx, (ev) => events.push({ type: ev.type, kv: ev.kv! }));
      ctx.signal.addEventListener("abort", () => events.end(), { once: true });
      const send = async (kv: KeyValue, revision: bigint) => {
        if (!out.send({ $typeName: "v3electionpb.LeaderResponse", header: ks.header(revision), kv })) {
          await out.drained();
        }
      };
      try {
        for (;;) {
          const first = await ks.firstCreated(pfx);
          if (isEtcdError(first)) return first;
          const seen = first.header!.revision;
          let leader: KeyValue | undefined = first.kvs[0];
          while (leader === undefined) {
            // Only a put makes a leader; a delete here would make observe spin.
            const n = await events.next();
            if (n.done) return;
            if (n.value.type === Event_EventType.PUT && n.value.kv.modRevision > seen) leader = n.value.kv;
          }
          await send(leader, leader === first.kvs[0] ? seen : leader.modRevision);
          for (;;) {
            const n = await events.next();
            if (n.done) return;
            const ev = n.value;
            if (!equal(ev.kv.key, leader.key) || ev.kv.modRevision <= leader.modRevision) continue;
            if (ev.type === Event_EventType.DELETE) break;
            await send(ev.kv, ev.kv.modRevision);
          }
        }
      } finally {
        stop();
      }
    },
  };
}

function equal(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
