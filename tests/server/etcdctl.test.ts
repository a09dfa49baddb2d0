/**
 * The real etcdctl against etcdts and against the real etcd: the same command sequence
 * must print the same bytes (IDs and raft term normalised, they differ by design) and
 * exit with the same codes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  cleanup,
  etcdctl,
  haveRealEtcd,
  type RunResult,
  type ServerProcess,
  startServer,
} from "../harness.ts";

interface Step {
  readonly args: string[];
  readonly stdin?: string;
}

const steps: Step[] = [
  { args: ["put", "foo", "bar"] },
  { args: ["put", "foo", "baz", "--prev-kv", "-w", "json"] },
  { args: ["put", "fop", "1"] },
  { args: ["get", "foo", "-w", "json"] },
  { args: ["get", "fo", "--prefix"] },
  { args: ["get", "fo", "--prefix", "-w", "json", "--limit", "1"] },
  { args: ["get", "fo", "--prefix", "--keys-only"] },
  { args: ["get", "fo", "--prefix", "--count-only", "-w", "json"] },
  { args: ["get", "fo", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"] },
  { args: ["get", "foo", "--rev", "2", "-w", "json"] },
  { args: ["get", "missing"] },
  { args: ["get", "", "--from-key", "-w", "fields"] },
  { args: ["txn", "-w", "json"], stdin: 'value("foo") = "baz"\n\nput foo qux\nget foo\n\nput foo nope\n\n' },
  { args: ["txn"], stdin: 'mod("foo") < "1"\n\nput x 1\n\ndel foo\n\n' },
  { args: ["del", "fop", "--prev-kv", "-w", "json"] },
  { args: ["del", "f", "--prefix"] },
  { args: ["compaction", "3"] },
  { args: ["get", "foo", "--rev", "2"] },
  { args: ["compaction", "100"] },
  { args: ["put", "", "x"] },
  { args: ["get", "foo", "--rev", "100"] },
  { args: ["put", "k", "v", "--lease", "1234"] },
];

function normalise(s: string): string {
  return s
    .replace(/"cluster_id":\d+/g, '"cluster_id":0')
    .replace(/"member_id":\d+/g, '"member_id":0')
    .replace(/"raft_term":\d+/g, '"raft_term":0')
    .replace(/"ClusterID" : \d+/g, '"ClusterID" : 0')
    .replace(/"MemberID" : \d+/g, '"MemberID" : 0')
    .replace(/"RaftTerm" : \d+/g, '"RaftTerm" : 0')
    // etcdctl logs client-side retries with timestamps; they are not part of the contract.
    .replace(/^\{"level":"warn".*\n/gm, "");
}

describe.skipIf(!haveRealEtcd())("real etcdctl: etcdts prints what etcd prints", () => {
  let ours: ServerProcess;
  let theirs: ServerProcess;
  beforeAll(async () => {
    [ours, theirs] = await Promise.all([startServer("etcdts"), startServer("etcd")]);
  });
  afterAll(cleanup);

  test("the same command sequence gives the same output and exit codes", async () => {
    const results: { step: Step; ours: RunResult; theirs: RunResult }[] = [];
    for (const step of steps) {
      const [a, b] = await Promise.all([
        etcdctl(ours.endpoint, step.args, { stdin: step.stdin }),
        etcdctl(theirs.endpoint, step.args, { stdin: step.stdin }),
      ]);
      results.push({ step, ours: a, theirs: b });
    }
    for (const r of results) {
      const label = `etcdctl ${r.step.args.join(" ")}`;
      expect({ label, out: normalise(r.ours.stdout), err: normalise(r.ours.stderr), code: r.ours.code })
        .toEqual({
          label,
          out: normalise(r.theirs.stdout),
          err: normalise(r.theirs.stderr),
          code: r.theirs.code,
        });
    }
  });
});
