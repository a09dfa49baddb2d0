import { describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import {
  RangeRequestSchema,
  RequestOpSchema,
  TxnRequestSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { kvService } from "../../server/services/kv.ts";
import type { Member } from "../../server/member.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { StateMachine } from "../../server/apply/state_machine.ts";

const enc = new TextEncoder();

/** A member that only counts ReadIndex rounds: enough for the read paths. */
function countingMember(): { member: Member; rounds: () => number } {
  let n = 0;
  const fake = {
    clusterId: 1n,
    memberId: 2n,
    term: 3n,
    readIndex: () => {
      n++;
      return Promise.resolve(null);
    },
  };
  return { member: fake as unknown as Member, rounds: () => n };
}

function rangeOp(key: string, serializable: boolean) {
  return create(RequestOpSchema, {
    request: {
      case: "requestRange",
      value: create(RangeRequestSchema, { key: enc.encode(key), serializable }),
    },
  });
}

describe("read-only txn consistency (etcd's isTxnSerializable)", () => {
  const store = MvccStore.open(":memory:");
  const { member, rounds } = countingMember();
  const kv = kvService({ member, state: new StateMachine(store), maxTxnOps: 128 });

  test("a txn whose every op is a serializable range skips the ReadIndex round", async () => {
    const before = rounds();
    const r = await kv.txn(
      create(TxnRequestSchema, { success: [rangeOp("a", true)], failure: [rangeOp("b", true)] }),
      {} as never,
    );
    expect("header" in r && r.header?.memberId).toBe(2n);
    expect(rounds()).toBe(before);
  });

  test("one linearizable range makes the whole txn linearizable", async () => {
    const before = rounds();
    await kv.txn(
      create(TxnRequestSchema, { success: [rangeOp("a", true)], failure: [rangeOp("b", false)] }),
      {} as never,
    );
    expect(rounds()).toBe(before + 1);
  });

  test("an empty txn is served locally too", async () => {
    const before = rounds();
    await kv.txn(create(TxnRequestSchema, {}), {} as never);
    expect(rounds()).toBe(before);
  });
});
