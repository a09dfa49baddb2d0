/** The corruption checks' decisions, rule by rule (server/corrupt/verdict.ts). */
import { describe, expect, test } from "bun:test";
import {
  corruptMembers,
  initialMismatches,
  type LocalHash,
  type PeerHash,
  WHOLE_CLUSTER,
} from "../../server/corrupt/verdict.ts";

const leader = 1n;
const at: LocalHash = { hash: 100, revision: 10n, compactRevision: 4n };
const peer = (id: bigint, over: Partial<PeerHash> = {}): PeerHash => ({
  id,
  hash: 100,
  revision: 10n,
  compactRevision: 4n,
  ...over,
});

describe("initial check", () => {
  test("a peer with another hash under the same compaction is a mismatch", () => {
    expect(initialMismatches(at, [peer(2n), peer(3n, { hash: 7 })]).map((p) => p.id)).toEqual([3n]);
  });
  test("a peer compacted differently cannot be compared", () => {
    expect(initialMismatches(at, [peer(2n, { hash: 7, compactRevision: 6n })])).toEqual([]);
  });
});

describe("periodic check", () => {
  const check = (answered: PeerHash[], o: { after?: LocalHash; clusterSize?: number } = {}) =>
    corruptMembers({
      leaderId: leader,
      before: at,
      after: o.after ?? at,
      answered,
      clusterSize: o.clusterSize ?? answered.length + 1,
    });

  test("all agree: nothing to raise", () => {
    expect(check([peer(2n), peer(3n)])).toEqual([]);
  });
  test("the follower outside the agreeing quorum is named", () => {
    expect(check([peer(2n), peer(3n, { hash: 7 })])).toEqual([3n]);
  });
  test("a corrupt leader is named when the followers agree without it", () => {
    expect(check([peer(2n, { hash: 7 }), peer(3n, { hash: 7 })])).toEqual([leader]);
  });
  test("no quorum on any hash: the whole cluster (member 0), as etcd 3.4 always does", () => {
    expect(check([peer(2n, { hash: 7 })], { clusterSize: 3 })).toEqual([WHOLE_CLUSTER]);
  });
  test("a peer compacted differently is not compared by hash", () => {
    expect(check([peer(2n), peer(3n, { hash: 7, compactRevision: 2n })])).toEqual([]);
  });
  test("a peer ahead of the leader, or compacted further, is corrupt", () => {
    expect(check([peer(2n, { revision: 11n }), peer(3n, { compactRevision: 5n, hash: 9 })])).toEqual([
      2n,
      3n,
    ]);
  });
  test("the leader's own hash changed at the same revisions: the leader", () => {
    expect(check([peer(2n), peer(3n)], { after: { ...at, hash: 5 } })).toEqual([leader]);
  });
  test("the leader moved on meanwhile: its changed hash is no evidence", () => {
    expect(check([peer(2n), peer(3n)], { after: { ...at, hash: 5, revision: 12n } })).toEqual([]);
  });
});
