/**
 * Damage in this member's own store: a stored revision that no longer matches its
 * checksum (store/checksum.ts), found by a client's read, a HashKV, a snapshot, a defrag
 * or the scrub. It is logged with its key and revision, and the CORRUPT alarm is raised
 * for this member through the log, as the corruption checks raise it (checker.ts): every
 * member then refuses KV requests until an operator replaces this member's data and
 * disarms the alarm.
 *
 * The scrub (--experimental-integrity-scrub-interval) finds damage nobody reads: a pass
 * over every stored revision that works in slices of SLICE_MS with REST_MS rests between
 * them (about a tenth of one core while it runs), the first one shortly after start, then
 * one every interval.
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
import type { ChecksumMismatch, MvccStore, VerifyReport } from "../../store/mvcc.ts";
import { idHex } from "../ids.ts";
import { log } from "../log.ts";
import type { Member } from "../member.ts";

/** Work of the scrub between two rests, and the rests. */
const SLICE_MS = 5;
const REST_MS = 45;
/** The first pass waits this long after start (or the interval, if shorter): start-up work first. */
const FIRST_PASS_DELAY_MS = 60_000;
/**
 * Damaged revisions logged at most, each once per kind of request that found it: a client
 * retrying a read of one would flood the log.
 */
const MAX_LOGGED = 1000;

/** What the integrity handling needs of the running member. */
export interface IntegrityDeps {
  readonly member: Member;
  readonly store: MvccStore;
}

/** The scrub of one member, as serve.ts drives it. */
export interface Integrity {
  /** A damaged revision the store found or was told of (serve.ts feeds `store.onDamage` here). */
  damaged(m: ChecksumMismatch, foundBy: string): void;
  /** Starts the periodic scrub (unless its interval is 0) until `stop` aborts. */
  startScrub(stop: AbortSignal): void;
}

/**
 * Raises CORRUPT for every damaged revision it is told of, and prepares the scrub; throws
 * on an invalid --experimental-integrity-scrub-interval.
 */
export function watchIntegrity(config: { integrityScrubInterval: string }, deps: IntegrityDeps): Integrity {
  const interval = parseGoDuration(config.integrityScrubInterval);
  if (typeof interval !== "number") {
    throw new Error(
      `invalid argument "${config.integrityScrubInterval}" for "--experimental-integrity-scrub-interval" flag: ${interval.error}`,
    );
  }
  const logged = new Set<string>();
  let raising = false;
  const damaged = (m: ChecksumMismatch, foundBy: string): void => {
    const at = `${m.revision}_${m.sub} ${foundBy}`;
    if (logged.size < MAX_LOGGED && !logged.has(at)) {
      logged.add(at);
      log.error("found a stored revision that does not match its checksum", {
        "local-member-id": idHex(deps.member.memberId),
        key: new TextDecoder().decode(m.key),
        revision: m.revision,
        "sub-revision": m.sub,
        "found-by": foundBy,
        error: m.message,
      });
    }
    if (raising || raised(deps)) return;
    raising = true;
    raiseCorrupt(deps, m).finally(() => (raising = false));
  };
  return {
    damaged,
    startScrub(stop) {
      if (interval <= 0) return;
      log.info("enabled integrity scrub", {
        "local-member-id": idHex(deps.member.memberId),
        interval: config.integrityScrubInterval,
      });
      let timer: ReturnType<typeof setTimeout>;
      const pass = async () => {
        try {
          await scrub(deps.store, stop);
        } catch (e) {
          if (!stop.aborted) log.warn("integrity scrub failed", { error: (e as Error).message });
        }
        if (!stop.aborted) timer = setTimeout(pass, interval);
      };
      timer = setTimeout(pass, Math.min(interval, FIRST_PASS_DELAY_MS));
      stop.addEventListener("abort", () => clearTimeout(timer), { once: true });
    },
  };
}

/** Whether this member's CORRUPT alarm is already raised. */
function raised(deps: IntegrityDeps): boolean {
  return deps.store.alarms(AlarmType.CORRUPT).some((a) => a.memberID === deps.member.memberId);
}

async function raiseCorrupt(deps: IntegrityDeps, m: ChecksumMismatch): Promise<void> {
  log.warn("raising the CORRUPT alarm for this member: its store is damaged", {
    "local-member-id": idHex(deps.member.memberId),
    error: m.message,
  });
  const o = await deps.member.propose(create(InternalRaftRequestSchema, {
    alarm: create(AlarmRequestSchema, {
      action: AlarmRequest_AlarmAction.ACTIVATE,
      memberID: deps.member.memberId,
      alarm: AlarmType.CORRUPT,
    }),
  }));
  if (isEtcdError(o)) log.warn("raising the CORRUPT alarm failed", { error: o.message });
}

/** One scrub pass; what it finds reaches the store's damage listeners (so the alarm). */
async function scrub(store: MvccStore, stop: AbortSignal): Promise<VerifyReport> {
  const start = performance.now();
  let sliceStart = start;
  const report = await store.verify("scrub", {
    between: () => {
      if (stop.aborted) throw new Error("stopped");
      if (performance.now() - sliceStart < SLICE_MS) return null;
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          sliceStart = performance.now();
          resolve();
        }, REST_MS)
      );
    },
  });
  log.info("finished integrity scrub", {
    revisions: report.revisions,
    damaged: report.damagedCount,
    took: `${((performance.now() - start) / 1000).toFixed(3)}s`,
  });
  return report;
}
