/**
 * etcd's corruption checks. `--experimental-initial-corrupt-check`: a restarted member
 * compares its HashKV with its peers' at its own revision before it serves anyone, and
 * refuses to start on a mismatch. `--experimental-corrupt-check-time`: every interval
 * the leader asks every member for its HashKV at the leader's revision and raises the
 * CORRUPT alarm through the log for the members that disagree (store/alarm.ts then makes
 * every member refuse KV and lease requests with "etcdserver: corrupt cluster").
 */
import { create } from "@bufbuild/protobuf";
import { isEtcdError } from "../../api/errors.ts";
import { parseGoDuration } from "../../lib/gofmt.ts";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  AlarmType,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { MvccStore } from "../../store/mvcc.ts";
import { idHex } from "../ids.ts";
import { log } from "../log.ts";
import type { Member } from "../member.ts";
import type { PeerTransport } from "../peer.ts";
import { askPeers, type PeerAnswer, serveHashKV } from "./peer-hashkv.ts";
import { corruptMembers, initialMismatches, type LocalHash, type PeerHash } from "./verdict.ts";

/** The initial check found peers that disagree: the member must not start. */
export class DataInconsistency extends Error {}

/** What the checks need of the running member. */
export interface CorruptionDeps {
  readonly member: Member;
  readonly store: MvccStore;
  readonly transport: PeerTransport;
}

/** The checks of one member, as serve.ts drives them. */
export interface CorruptionChecks {
  /**
   * With --experimental-initial-corrupt-check, on a member that has data: throws
   * DataInconsistency if a peer's hash differs at our revision. Call before serving.
   */
  initialCheck(): Promise<void>;
  /** Starts the periodic check (if --experimental-corrupt-check-time is set) until `stop` aborts. */
  startPeriodic(stop: AbortSignal): void;
}

/**
 * Serves this member's HashKV on the peer port and prepares the checks; throws on an
 * invalid --experimental-corrupt-check-time (as etcd refuses the flag).
 */
export function corruptionChecks(
  config: { initialCorruptCheck: boolean; corruptCheckTime: string; electionTimeoutMs: number },
  deps: CorruptionDeps,
): CorruptionChecks {
  const interval = parseGoDuration(config.corruptCheckTime);
  if (typeof interval !== "number") {
    throw new Error(
      `invalid argument "${config.corruptCheckTime}" for "--experimental-corrupt-check-time" flag: ${interval.error}`,
    );
  }
  serveHashKV(deps.transport, deps);
  // etcd's ReqTimeout: 5s plus twice the election timeout.
  const timeoutMs = 5000 + 2 * config.electionTimeoutMs;
  return {
    async initialCheck() {
      if (!config.initialCorruptCheck) return;
      const err = await checkInitialHashKV(deps, timeoutMs);
      if (err !== null) throw err;
    },
    startPeriodic(stop) {
      if (interval <= 0) return;
      log.info("enabled corruption checking", {
        "local-member-id": idHex(deps.member.memberId),
        interval: config.corruptCheckTime,
      });
      const tick = async () => {
        if (stop.aborted) return;
        if (deps.member.isLeader) {
          try {
            await checkHashKV(deps, timeoutMs);
          } catch (e) {
            log.warn("failed to check hash KV", { error: (e as Error).message });
          }
        }
        if (!stop.aborted) timer = setTimeout(tick, interval);
      };
      let timer = setTimeout(tick, interval);
      stop.addEventListener("abort", () => clearTimeout(timer), { once: true });
    },
  };
}

function peerIds(deps: CorruptionDeps): bigint[] {
  return deps.store.members().map((m) => m.id).filter((id) => id !== deps.member.memberId);
}

/** This member's HashKV at its head, once a compaction's pending deletes are done (HashKV would do them at once, holding the loop). */
async function localHash(store: MvccStore): Promise<LocalHash> {
  await store.compactionDeleted();
  const r = store.hashKV(0n);
  if (isEtcdError(r)) throw new Error(`failed to fetch hash (${r.message})`);
  return { hash: r.hash, revision: r.hashRevision, compactRevision: r.compactRevision };
}

function answered(answers: readonly PeerAnswer[], deps: CorruptionDeps, revision: bigint): PeerHash[] {
  const out: PeerHash[] = [];
  for (const a of answers) {
    if (a.ok) out.push(a.hash);
    else {
      log.warn("failed hash kv request", {
        "local-member-id": idHex(deps.member.memberId),
        "requested-revision": revision,
        "remote-peer-id": idHex(a.id),
        error: a.error,
      });
    }
  }
  return out;
}

/** etcd's CheckInitialHashKV: a DataInconsistency, or null when no peer disagrees. */
export async function checkInitialHashKV(
  deps: CorruptionDeps,
  timeoutMs: number,
): Promise<DataInconsistency | null> {
  const self = idHex(deps.member.memberId);
  log.info("starting initial corruption check", { "local-member-id": self, timeout: `${timeoutMs}ms` });
  const local = await localHash(deps.store);
  const peers = answered(
    await askPeers(deps.transport, peerIds(deps), local.revision, timeoutMs),
    deps,
    local.revision,
  );
  const bad = initialMismatches(local, peers);
  for (const p of bad) {
    log.warn("found different hash values from remote peer", {
      "local-member-id": self,
      "local-member-revision": local.revision,
      "local-member-compact-revision": local.compactRevision,
      "local-member-hash": local.hash,
      "remote-peer-id": idHex(p.id),
      "remote-peer-revision": p.revision,
      "remote-peer-compact-revision": p.compactRevision,
      "remote-peer-hash": p.hash,
    });
  }
  if (bad.length > 0) return new DataInconsistency(`${self} found data inconsistency with peers`);
  log.info("initial corruption checking passed; no corruption", { "local-member-id": self });
  return null;
}

/**
 * etcd's checkHashKV, run by the leader: compares every member's HashKV at the leader's
 * revision and raises CORRUPT for those that disagree. Resolves with the IDs it raised.
 */
export async function checkHashKV(deps: CorruptionDeps, timeoutMs: number): Promise<bigint[]> {
  const { member, store } = deps;
  const before = await localHash(store);
  const ids = peerIds(deps);
  const answers = await askPeers(deps.transport, ids, before.revision, timeoutMs);
  // After a linearizable read our head is at least every head a peer reported.
  const read = await member.readIndex();
  if (read !== null) throw new Error(read.message);
  const after = await localHash(store);
  const suspects = corruptMembers({
    leaderId: member.memberId,
    before,
    after,
    answered: answered(answers, deps, before.revision),
    clusterSize: ids.length + 1,
  });
  log.info("finished peer corruption check", {
    "number-of-peers-checked": answers.filter((a) => a.ok).length,
  });
  const raised = new Set(store.alarms(AlarmType.CORRUPT).map((a) => a.memberID));
  const fresh = suspects.filter((id) => !raised.has(id));
  for (const id of fresh) {
    log.warn("found data inconsistency; raising the CORRUPT alarm", {
      "local-member-id": idHex(member.memberId),
      "corrupt-member-id": idHex(id),
      "leader-hash": before.hash,
      revision: before.revision,
    });
    const o = await member.propose(create(InternalRaftRequestSchema, {
      alarm: create(AlarmRequestSchema, {
        action: AlarmRequest_AlarmAction.ACTIVATE,
        memberID: id,
        alarm: AlarmType.CORRUPT,
      }),
    }));
    if (isEtcdError(o)) log.warn("raising the CORRUPT alarm failed", { error: o.message });
  }
  return fresh;
}
