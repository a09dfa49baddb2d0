import { describe, expect, test } from "bun:test";
import { checkLinearizable, type Operation } from "./linearizability.ts";

function put(clientId: number, key: string, value: string, call: number, ret: number): Operation {
  return { clientId, kind: "put", key, value, call, return: ret };
}
function get(clientId: number, key: string, output: string | null, call: number, ret: number): Operation {
  return { clientId, kind: "get", key, output, call, return: ret };
}

describe("checkLinearizable", () => {
  test("accepts a sequential history", () => {
    expect(checkLinearizable([put(1, "x", "a", 0, 1), get(2, "x", "a", 2, 3)]).ok).toBe(true);
  });

  test("rejects a stale read after a completed write", () => {
    const r = checkLinearizable([put(1, "x", "a", 0, 1), put(1, "x", "b", 2, 3), get(2, "x", "a", 4, 5)]);
    expect(r.ok).toBe(false);
  });

  test("accepts either order for overlapping writes", () => {
    const h = [put(1, "x", "a", 0, 10), put(2, "x", "b", 1, 9), get(3, "x", "a", 11, 12)];
    expect(checkLinearizable(h).ok).toBe(true);
    expect(checkLinearizable([...h.slice(0, 2), get(3, "x", "b", 11, 12)]).ok).toBe(true);
  });

  test("rejects reads that observe two orders of the same writes", () => {
    const h = [
      put(1, "x", "a", 0, 10),
      put(2, "x", "b", 0, 10),
      get(3, "x", "a", 11, 12),
      get(4, "x", "b", 13, 14),
      get(5, "x", "a", 15, 16),
    ];
    expect(checkLinearizable(h).ok).toBe(false);
  });

  test("a write that never returned may or may not take effect", () => {
    expect(checkLinearizable([put(1, "x", "a", 0, Infinity), get(2, "x", "a", 5, 6)]).ok).toBe(true);
    expect(checkLinearizable([put(1, "x", "a", 0, Infinity), get(2, "x", null, 5, 6)]).ok).toBe(true);
    // But once seen it cannot be unseen.
    const h = [put(1, "x", "a", 0, Infinity), get(2, "x", "a", 5, 6), get(2, "x", null, 7, 8)];
    expect(checkLinearizable(h).ok).toBe(false);
  });

  test("reads of absent keys and the initial state", () => {
    expect(checkLinearizable([get(1, "x", null, 0, 1)]).ok).toBe(true);
    expect(checkLinearizable([get(1, "x", "z", 0, 1)]).ok).toBe(false);
    expect(checkLinearizable([get(1, "x", "z", 0, 1)], { initial: new Map([["x", "z"]]) }).ok).toBe(true);
  });

  test("keys are checked independently", () => {
    const h = [
      put(1, "x", "a", 0, 1),
      put(1, "y", "b", 0, 1),
      get(2, "y", "b", 2, 3),
      get(2, "x", null, 2, 3),
    ];
    const r = checkLinearizable(h);
    expect(r.ok).toBe(false);
    if (r.ok === false) expect(r.key).toBe("x");
  });

  test("a read that never returned is ignored", () => {
    expect(checkLinearizable([put(1, "x", "a", 0, 1), get(2, "x", "zzz", 2, Infinity)]).ok).toBe(true);
  });

  test("handles many concurrent operations quickly", () => {
    const h: Operation[] = [];
    for (let i = 0; i < 200; i++) {
      h.push(put(i % 5, "k", `v${i}`, i * 2, i * 2 + 5));
      h.push(get(10 + (i % 5), "k", `v${i}`, i * 2 + 4, i * 2 + 6));
    }
    expect(checkLinearizable(h).ok).toBe(true);
  });
});
