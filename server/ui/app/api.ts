/**
 * The console's only way to the server: etcd's JSON gateway (/v3/...), exactly as curl or
 * any client uses it, so the server's auth checks apply to every click. The auth token
 * lives in memory only. Keys and values cross this module as binary strings.
 */
import { fromB64, prefixEnd, toB64 } from "./bytes.ts";
import type { KeysPage } from "./tree.ts";

/** An error the gateway answered with ({"error","message","code"}). */
export class GatewayError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** gRPC's Unauthenticated, and the messages etcd gives a call without a valid token. */
function needsLogin(e: GatewayError): boolean {
  return e.code === 16 || /user name is empty|invalid auth token|token is not provided/.test(e.message);
}

let token: string | null = null;
let user: string | null = null;
let onLoginNeeded: () => void = () => {};

/** Who is logged in (null: nobody). */
export function currentUser(): string | null {
  return user;
}

/** Called when a call fails for want of a (valid) token. */
export function whenLoginNeeded(fn: () => void): void {
  onLoginNeeded = fn;
}

/** Authenticates and keeps the token for later calls. */
export async function login(name: string, password: string): Promise<void> {
  token = null;
  const r = await call<{ token: string }>("/v3/auth/authenticate", { name, password });
  token = r.token;
  user = name;
}

export function logout(): void {
  token = null;
  user = null;
}

function headers(): Record<string, string> {
  const h: Record<string, string> = { "Content-Type": "application/json" };
  if (token !== null) h.Authorization = token;
  return h;
}

/** One unary gateway call; `base` is another member's client URL ("" for this one). */
export async function call<T = Record<string, unknown>>(path: string, body: unknown, base = ""): Promise<T> {
  const r = await fetch(base + path, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(body ?? {}),
  });
  const text = await r.text();
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text);
  } catch {
    throw new GatewayError(2, `${r.status} ${text.slice(0, 200)}`);
  }
  if (j.error !== undefined) {
    const e = new GatewayError(Number(j.code ?? 2), String(j.message ?? j.error));
    if (needsLogin(e)) onLoginNeeded();
    throw e;
  }
  return j as T;
}

/**
 * A streaming call (watch, snapshot, keep-alive): each response line's `result` goes to
 * `onResult` until the stream ends, `signal` aborts it, or `onResult` returns false.
 */
export async function stream(
  path: string,
  body: string,
  onResult: (result: Record<string, any>) => boolean | void,
  signal?: AbortSignal,
): Promise<void> {
  const r = await fetch(path, { method: "POST", headers: headers(), body, signal });
  if (r.body === null) return;
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === "") continue;
        const msg = JSON.parse(line);
        if (msg.error) {
          const e = new GatewayError(Number(msg.error.grpc_code ?? msg.error.code ?? 2), msg.error.message);
          if (needsLogin(e)) onLoginNeeded();
          throw e;
        }
        if (onResult(msg.result ?? {}) === false) return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** A key-value as the console uses it. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** Decimal lease ID, "" for none. */
  readonly lease: string;
}

/** A gateway mvccpb.KeyValue as a KeyValue. */
export function keyValue(kv: Record<string, any>): KeyValue {
  return {
    key: fromB64(kv.key),
    value: fromB64(kv.value),
    createRevision: Number(kv.create_revision ?? 0),
    modRevision: Number(kv.mod_revision ?? 0),
    version: Number(kv.version ?? 0),
    lease: kv.lease && kv.lease !== "0" ? String(kv.lease) : "",
  };
}

/** The revision a response's header carries. */
export function headerRevision(r: { header?: { revision?: string } }): number {
  return Number(r.header?.revision ?? 0);
}

/**
 * A keys-only range for the tree. A listing's first range is linearizable; the rest read
 * the revision it saw, which this member has applied, so they skip the ReadIndex round.
 */
export async function rangeKeys(
  from: string,
  to: string,
  limit: number,
  revision: number,
): Promise<KeysPage> {
  const r = await call<any>("/v3/kv/range", {
    key: toB64(from === "" ? "\0" : from), // etcd wants a key; no key sorts below "\0"
    range_end: toB64(to),
    keys_only: true,
    limit: String(limit),
    revision: String(revision),
    serializable: revision > 0,
  });
  return {
    keys: (r.kvs ?? []).map((kv: { key: string }) => fromB64(kv.key)),
    more: Boolean(r.more),
    count: Number(r.count ?? 0),
    revision: headerRevision(r),
  };
}

/** One key at a revision (0: now), or null. */
export async function getKey(key: string, revision = 0): Promise<{ kv: KeyValue | null; revision: number }> {
  const r = await call<any>("/v3/kv/range", { key: toB64(key), revision: String(revision) });
  return { kv: r.kvs?.length ? keyValue(r.kvs[0]) : null, revision: headerRevision(r) };
}

/** How many keys in [from, to) at a revision. */
export async function countKeys(from: string, to: string, revision = 0): Promise<number> {
  const r = await call<any>("/v3/kv/range", {
    key: toB64(from),
    range_end: toB64(to),
    count_only: true,
    revision: String(revision),
  });
  return Number(r.count ?? 0);
}

export async function putKey(key: string, value: string, lease = ""): Promise<number> {
  const body: Record<string, string> = { key: toB64(key), value: toB64(value) };
  if (lease !== "") body.lease = lease;
  return headerRevision(await call("/v3/kv/put", body));
}

/** Deletes a key, or every key with the prefix; returns how many went. */
export async function deleteKeys(key: string, prefix = false): Promise<number> {
  const body: Record<string, string> = { key: toB64(key) };
  if (prefix) body.range_end = toB64(prefixEnd(key));
  const r = await call<{ deleted?: string }>("/v3/kv/deleterange", body);
  return Number(r.deleted ?? 0);
}

/**
 * The revision below which history is gone (0: never compacted). A range at revision 1
 * fails once anything was compacted; a watch from revision 1 then says where it was.
 * `probe` is a key the user may read (with auth on, not every user may read "\0").
 */
export async function compactedRevision(probe = "\0"): Promise<number> {
  try {
    await call("/v3/kv/range", { key: toB64(probe), revision: "1", count_only: true });
    return 0;
  } catch (e) {
    if (!(e instanceof GatewayError) || e.code !== 11) throw e;
  }
  let compact = 0;
  const ac = new AbortController();
  await stream(
    "/v3/watch",
    JSON.stringify({ create_request: { key: toB64(probe), start_revision: "1" } }),
    (res) => {
      if (res.compact_revision) compact = Number(res.compact_revision);
      return !(res.canceled || res.compact_revision);
    },
    ac.signal,
  ).finally(() => ac.abort());
  return compact;
}

/** One change of a key, as a watch reports it. */
export interface KeyEvent {
  readonly type: "PUT" | "DELETE";
  readonly kv: KeyValue;
}

/**
 * Every change of `key` still in the history, oldest first: a watch from the compaction
 * boundary plus a progress request, which etcdts answers once the watch has caught up, so
 * the history ends exactly there. At most `max` changes (the latest are kept).
 */
export async function keyHistory(key: string, max = 500): Promise<{ events: KeyEvent[]; compacted: number }> {
  const compacted = await compactedRevision(key);
  const events: KeyEvent[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10_000);
  const body =
    JSON.stringify({ create_request: { key: toB64(key), start_revision: String(Math.max(1, compacted)) } }) +
    JSON.stringify({ progress_request: {} });
  try {
    await stream("/v3/watch", body, (res) => {
      for (const ev of res.events ?? []) {
        events.push({ type: ev.type === "DELETE" ? "DELETE" : "PUT", kv: keyValue(ev.kv ?? {}) });
        if (events.length > max) events.shift();
      }
      if (res.canceled) return false;
      return !(res.watch_id === "-1" && !res.created);
    }, ac.signal);
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return { events, compacted };
}
