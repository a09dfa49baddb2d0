/**
 * How deep txns may nest: etcd's decoder has no depth limit, so --max-txn-ops alone bounds
 * nesting (each level spends one op of what its parent leaves) and a deeper txn gets "too
 * many operations", however deep it is. Same test against etcdts and the real etcd.
 */
import { afterAll, expect, test } from "bun:test";
import { decodeProposal, encodeProposal } from "../../server/proposal_codec.ts";
import { fromBinary } from "@bufbuild/protobuf";
import { KV, TxnRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import { cleanup, CONFORMANCE_TARGETS, errorOf, startServer } from "../harness.ts";
import { callTxn, nestedTxn, putOp } from "../nested_txn.ts";
import { MAX_TXN_NESTING, MESSAGE_RECURSION_LIMIT } from "../../server/txn_nesting.ts";

afterAll(cleanup);

const TOO_MANY = "etcdserver: too many operations in txn request";

async function depthCheck(kind: "etcdts" | "etcd", extraArgs: string[], ok: number[], refused: number[]) {
  const server = await startServer(kind, { extraArgs });
  const client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
  try {
    for (const depth of ok) {
      const r = await callTxn(client, nestedTxn(depth, putOp(`nest/${depth}`)));
      expect(r.succeeded).toBe(true);
      const got = await client.service(KV).range({ key: new TextEncoder().encode(`nest/${depth}`) });
      expect(got.count).toBe(1n);
    }
    for (const depth of refused) {
      const err = await errorOf(callTxn(client, nestedTxn(depth, putOp("nest/no"))));
      expect(`${depth}: ${err.message}`).toBe(`${depth}: ${TOO_MANY}`);
    }
  } finally {
    client.close();
    await server.stop();
  }
}

for (const kind of CONFORMANCE_TARGETS) {
  test(`${kind}: the default --max-txn-ops of 128 allows 128 nested txns with an op each`, async () => {
    await depthCheck(kind, [], [50, 100, 128], [129, 1000, 5000]);
  }, 60_000);
}

test("etcdts: a larger --max-txn-ops allows nesting up to our own bound", async () => {
  await depthCheck("etcdts", ["--max-txn-ops", "5000"], [MAX_TXN_NESTING], [MAX_TXN_NESTING + 1]);
}, 60_000);

test("a txn nested as deep as allowed survives the log: the proposal decodes again", () => {
  const txn = fromBinary(TxnRequestSchema, nestedTxn(MAX_TXN_NESTING, putOp("k")), {
    recursionLimit: MESSAGE_RECURSION_LIMIT,
  });
  const back = decodeProposal(
    encodeProposal({ $typeName: "etcdserverpb.InternalRaftRequest", ID: 0n, txn }, 7n),
  );
  let depth = 0;
  for (let t = back.txn; t !== undefined; depth++) {
    const op = t.success[0].request;
    t = op.case === "requestTxn" ? op.value : undefined;
  }
  expect(depth).toBe(MAX_TXN_NESTING);
});
