/**
 * etcd's initial election tick advance for a member of a larger cluster (etcd's
 * adjustTicks): once its peers are reachable, a starting member forwards its election
 * clock to two ticks short of the timeout, so a fresh cluster elects its first leader after
 * two ticks plus Raft's randomized wait instead of a whole election timeout more. The
 * randomized part still spreads the candidates; a leader's first heartbeat resets the
 * forwarded clock as any heartbeat does, so a member joining a running cluster does not
 * disturb it. A sole voter is not handled here: the driver campaigns at once.
 */
import { formatGoDuration } from "../../lib/gofmt.ts";
import { log } from "../log.ts";
import type { Clock, Timer } from "./clock.ts";

/** How often the peers are counted, and for how long (etcd: 50 ms, rafthttp.ConnReadTimeout). */
export const POLL_MS = 50;
export const GIVE_UP_MS = 5000;

export interface TickAdvanceOptions {
  readonly memberId: bigint;
  /** --initial-election-tick-advance. */
  readonly enabled: boolean;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  readonly electionTicks: number;
  /** Other members of the cluster as configured (learners too, as etcd counts them). */
  readonly remoteMembers: number;
  /** Peers reachable now (asked every POLL_MS). */
  readonly activePeers: () => number;
  /** Forwards the election clock by `ticks`. */
  readonly advance: (ticks: number) => void;
}

/**
 * Starts waiting for the peers; cancel() gives up early (the member is stopping). Like
 * etcd, it forwards only once more than one peer is reachable (a two-member cluster never
 * does), and gives up silently after GIVE_UP_MS: then the peers are down and forwarding
 * would only start a campaign nobody answers.
 */
export function startTickAdvance(o: TickAdvanceOptions): Timer {
  const none: Timer = { cancel() {} };
  if (o.remoteMembers === 0) return none;
  const fields = { "election-ticks": o.electionTicks };
  if (!o.enabled) {
    log.info("skipping initial election tick advance", fields);
    return none;
  }
  log.info("starting initial election tick advance", fields);
  let polls = 0;
  const timer = o.clock.every(POLL_MS, () => {
    const active = o.activePeers();
    if (active > 1) {
      timer.cancel();
      const ticks = o.electionTicks - 2;
      log.info("initialized peer connections; fast-forwarding election ticks", {
        "local-member-id": o.memberId.toString(16),
        "forward-ticks": ticks,
        "forward-duration": formatGoDuration(ticks * o.heartbeatMs),
        "election-ticks": o.electionTicks,
        "election-timeout": formatGoDuration(o.electionTicks * o.heartbeatMs),
        "active-remote-members": active,
      });
      o.advance(ticks);
    } else if (++polls * POLL_MS >= GIVE_UP_MS) {
      timer.cancel();
    }
  });
  return timer;
}
