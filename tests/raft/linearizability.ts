/**
 * A linearizability checker for key-value histories in the spirit of Porcupine: Wing &
 * Gong's search with Lowe's memoization of (linearized set, state) pairs, run per key
 * because a map of registers is P-compositional (a history is linearizable iff each key's
 * sub-history is). Usable with histories from the simulator or from real processes.
 */

/**
 * One client operation. `call` and `return` are times on one clock; `return` is Infinity
 * when the client never got an answer (the operation may or may not have taken effect).
 * For a get, `output` is the value read, with null or undefined meaning "key absent".
 */
export interface Operation {
  clientId: number;
  kind: "put" | "get";
  key: string;
  value?: string;
  output?: string | null;
  call: number;
  return: number;
}

export type LinearizabilityResult =
  | { ok: true }
  | { ok: false; key: string; ops: Operation[] }
  | { ok: "unknown"; key: string; reason: string };

export interface CheckOptions {
  /** Values the keys hold before the history starts (absent keys hold nothing). */
  initial?: ReadonlyMap<string, string>;
  /** Upper bound on search steps per key before giving up with "unknown". */
  maxStepsPerKey?: number;
}

/** Checks that the whole history is linearizable with respect to a map of registers. */
export function checkLinearizable(
  history: readonly Operation[],
  opts: CheckOptions = {},
): LinearizabilityResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    // A read that never returned has no effect and no observation: nothing to check.
    if (op.kind === "get" && op.return === Infinity) continue;
    let ops = byKey.get(op.key);
    if (ops === undefined) byKey.set(op.key, ops = []);
    ops.push(op);
  }
  for (const [key, ops] of byKey) {
    const initial = opts.initial?.get(key) ?? null;
    const r = checkRegister(ops, initial, opts.maxStepsPerKey ?? 5_000_000);
    if (r === "unknown") return { ok: "unknown", key, reason: "search budget exhausted" };
    if (!r) return { ok: false, key, ops };
  }
  return { ok: true };
}

type RegisterState = string | null;

function stepRegister(state: RegisterState, op: Operation): RegisterState | undefined {
  if (op.kind === "put") return op.value ?? null;
  return (op.output ?? null) === state ? state : undefined;
}

/**
 * The search over one key. Events (calls and returns) form a doubly linked list; linearizing
 * an operation lifts its call and return out of the list, backtracking puts them back.
 */
function checkRegister(
  ops: readonly Operation[],
  initial: RegisterState,
  maxSteps: number,
): boolean | "unknown" {
  const n = ops.length;
  if (n === 0) return true;
  // Node 0 is the head sentinel; node 1 + 2i is op i's call, 2 + 2i its return.
  const events: { node: number; time: number; isCall: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    events.push({ node: 1 + 2 * i, time: ops[i].call, isCall: true });
    events.push({ node: 2 + 2 * i, time: ops[i].return, isCall: false });
  }
  // At equal times calls go first: treating such operations as concurrent never rejects a
  // valid history.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const size = 2 * n + 1;
  const next = new Int32Array(size).fill(-1);
  const prev = new Int32Array(size).fill(-1);
  let last = 0;
  for (const e of events) {
    next[last] = e.node;
    prev[e.node] = last;
    last = e.node;
  }
  const isCall = (node: number) => (node & 1) === 1;
  const opOf = (node: number) => (node - 1) >> 1;
  const retOf = (callNode: number) => callNode + 1;

  const lift = (call: number) => {
    next[prev[call]] = next[call];
    if (next[call] !== -1) prev[next[call]] = prev[call];
    const ret = retOf(call);
    next[prev[ret]] = next[ret];
    if (next[ret] !== -1) prev[next[ret]] = prev[ret];
  };
  const unlift = (call: number) => {
    const ret = retOf(call);
    if (next[ret] !== -1) prev[next[ret]] = ret;
    next[prev[ret]] = ret;
    if (next[call] !== -1) prev[next[call]] = call;
    next[prev[call]] = call;
  };

  const words = (n + 31) >>> 5;
  const linearized = new Uint32Array(words);
  const cache = new Map<string, true>();
  const cacheKey = (state: RegisterState) => {
    let s = state === null ? "\u0000" : "\u0001" + state;
    for (let w = 0; w < words; w++) s += "," + linearized[w].toString(36);
    return s;
  };
  const stack: { call: number; state: RegisterState }[] = [];
  let state = initial;
  let entry = next[0];
  let steps = 0;
  while (next[0] !== -1) {
    if (++steps > maxSteps) return "unknown";
    if (isCall(entry)) {
      const i = opOf(entry);
      const after = stepRegister(state, ops[i]);
      if (after !== undefined) {
        linearized[i >>> 5] |= 1 << (i & 31);
        const key = cacheKey(after);
        if (!cache.has(key)) {
          cache.set(key, true);
          stack.push({ call: entry, state });
          state = after;
          lift(entry);
          entry = next[0];
          continue;
        }
        linearized[i >>> 5] &= ~(1 << (i & 31));
      }
      entry = next[entry];
    } else {
      // A return whose operation is not linearized yet: backtrack.
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.state;
      const i = opOf(top.call);
      linearized[i >>> 5] &= ~(1 << (i & 31));
      unlift(top.call);
      entry = next[top.call];
    }
  }
  return true;
}
