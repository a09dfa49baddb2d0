import { describe, expect, test } from "bun:test";
import { Errors } from "../../api/errors.ts";
import type {
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RequestOp,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import {
  InvalidSortOption,
  validateDeleteRange,
  validatePut,
  validateRange,
  validateTxn,
} from "../../server/validate.ts";
import { b, cmp, del, op, put, range, txn } from "../store/helpers.ts";
import { create } from "@bufbuild/protobuf";
import { RequestOpSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";

describe("single requests", () => {
  test("range", () => {
    expect(validateRange(range(""))).toBe(Errors.EmptyKey);
    expect(validateRange(range("a", "\0", { limit: 3n }))).toBeNull();
    expect(validateRange(range("a", "", { sortTarget: 9 as RangeRequest_SortTarget }))).toBe(
      InvalidSortOption,
    );
    expect(validateRange(range("a", "", { sortOrder: 3 as RangeRequest_SortOrder }))).toBe(InvalidSortOption);
    expect(validateRange(range("a", "", { sortOrder: 2, sortTarget: 4 }))).toBeNull();
  });

  test("put", () => {
    expect(validatePut(put("", "v"))).toBe(Errors.EmptyKey);
    expect(validatePut(put("a", "v", { ignoreValue: true }))).toBe(Errors.ValueProvided);
    expect(validatePut(put("a", "", { ignoreValue: true }))).toBeNull();
    expect(validatePut(put("a", "v", { ignoreLease: true, lease: 5n }))).toBe(Errors.LeaseProvided);
    expect(validatePut(put("a", "v", { ignoreLease: true }))).toBeNull();
  });

  test("delete range", () => {
    expect(validateDeleteRange(del(""))).toBe(Errors.EmptyKey);
    expect(validateDeleteRange(del("a", "\0"))).toBeNull();
  });
});

describe("txn", () => {
  const p = (k: string) => op.put(put(k, "v"));
  const d = (k: string, end = "") => op.del(del(k, end));
  const nested = (success: RequestOp[], failure: RequestOp[] = []) => op.txn(txn([], success, failure));
  const emptyOp = create(RequestOpSchema, {});

  test("too many ops in any branch or compares; nested txns share what is left", () => {
    const ops = (n: number) => Array.from({ length: n }, (_, i) => p(`k${i}`));
    const cmps = (n: number) => Array.from({ length: n }, (_, i) => cmp({ key: b(`k${i}`) }));
    expect(validateTxn(txn([], ops(128)))).toBeNull();
    expect(validateTxn(txn([], ops(129)))).toBe(Errors.TooManyOps);
    expect(validateTxn(txn([], [], ops(4)), { maxTxnOps: 3 })).toBe(Errors.TooManyOps);
    expect(validateTxn(txn(cmps(4), []), { maxTxnOps: 3 })).toBe(Errors.TooManyOps);
    // outer uses 2 of 4, so a nested txn may have 2
    expect(validateTxn(txn([], [p("a"), nested([p("b"), p("c")])]), { maxTxnOps: 4 })).toBeNull();
    expect(validateTxn(txn([], [p("a"), nested([p("b"), p("c"), p("d")])]), { maxTxnOps: 4 })).toBe(
      Errors.TooManyOps,
    );
  });

  test("empty keys anywhere, value/lease flags, and an empty op (etcd answers KeyNotFound)", () => {
    expect(validateTxn(txn([cmp({ key: b("") })], []))).toBe(Errors.EmptyKey);
    expect(validateTxn(txn([], [op.range(range(""))]))).toBe(Errors.EmptyKey);
    expect(validateTxn(txn([], [], [nested([d("")])]))).toBe(Errors.EmptyKey);
    expect(validateTxn(txn([], [op.put(put("a", "v", { ignoreValue: true }))]))).toBe(Errors.ValueProvided);
    expect(validateTxn(txn([], [emptyOp]))).toBe(Errors.KeyNotFound);
  });

  test("the same key put twice, or put and deleted, in one branch is DuplicateKey", () => {
    expect(validateTxn(txn([], [p("a"), p("a")]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [p("a")], [p("a")]))).toBeNull(); // different branches
    expect(validateTxn(txn([], [p("a"), d("a")]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [d("a"), p("a")]))).toBe(Errors.DuplicateKey);
    // observed on etcd 3.4.23: put b + delete [a, c) is rejected
    expect(validateTxn(txn([], [p("b"), d("a", "c")]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [p("c"), d("a", "c")]))).toBeNull();
    expect(validateTxn(txn([], [d("a", "c"), d("b", "d")]))).toBeNull(); // deletes may overlap
  });

  test("etcd 3.4 quirk (observed): a delete with range_end \\0 does not conflict with puts", () => {
    expect(validateTxn(txn([], [p("a"), d("a", "\0")]))).toBeNull();
  });

  test("nested txns: then/else may repeat a key; conflicts with the parent or earlier siblings are found", () => {
    // observed on etcd 3.4.23
    expect(validateTxn(txn([], [nested([p("q")], [p("q")])]))).toBeNull();
    expect(validateTxn(txn([], [p("q"), nested([p("q")])]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [nested([p("q")]), nested([p("q")])]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [nested([], [p("q")]), nested([p("q")])]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [d("a", "z"), nested([p("q")])]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [nested([d("q")]), p("q")]))).toBe(Errors.DuplicateKey);
    expect(validateTxn(txn([], [nested([d("x")]), nested([p("x")])]))).toBe(Errors.DuplicateKey);
    // etcd checks a sibling's put only against deletes seen before it
    expect(validateTxn(txn([], [nested([p("x")]), nested([d("x")])]))).toBeNull();
    expect(validateTxn(txn([], [nested([nested([p("x"), p("x")])])]))).toBe(Errors.DuplicateKey);
  });

  test("size and key errors come before duplicate checks", () => {
    expect(validateTxn(txn([], [p("a"), p("a"), op.range(range(""))]))).toBe(Errors.EmptyKey);
  });
});
