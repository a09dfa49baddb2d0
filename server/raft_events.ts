/**
 * etcd's raft log lines for role and leader changes ("… became leader at term 2",
 * "raft.node: … elected leader … at term 2"), which operators and wrappers wait for.
 * `raft/` is pure and logs nothing: the member derives these from each Ready's soft state.
 */
import { type SoftState, StateType } from "../raft/mod.ts";
import { idHex } from "./ids.ts";

const ROLE: Record<StateType, string> = {
  [StateType.Follower]: "follower",
  [StateType.Candidate]: "candidate",
  [StateType.PreCandidate]: "pre-candidate",
  [StateType.Leader]: "leader",
};

/** The lines etcd's raft logs for the change from `prev` to `next` (either may be unchanged). */
export function softStateLines(id: bigint, term: number, prev: SoftState, next: SoftState): string[] {
  const me = idHex(id);
  const lines: string[] = [];
  if (next.state !== prev.state) lines.push(`${me} became ${ROLE[next.state]} at term ${term}`);
  if (next.lead !== prev.lead) {
    if (next.lead === 0n) lines.push(`raft.node: ${me} lost leader ${idHex(prev.lead)} at term ${term}`);
    else if (prev.lead === 0n) {
      lines.push(`raft.node: ${me} elected leader ${idHex(next.lead)} at term ${term}`);
    } else {
      lines.push(
        `raft.node: ${me} changed leader from ${idHex(prev.lead)} to ${idHex(next.lead)} at term ${term}`,
      );
    }
  }
  return lines;
}
