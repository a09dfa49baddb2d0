/**
 * Health probes: etcd's /health (false without a leader, with an active alarm, or when a
 * read fails) and etcd 3.5+'s /livez and /readyz (named checks, `?verbose`, `?exclude=`,
 * one sub-path per check), with etcd's bodies and status codes.
 */
import type { Hono } from "hono";
import type { EtcdError } from "../api/errors.ts";
import { withDeadline } from "../lib/deadline.ts";

/** What the probes look at. */
export interface HealthSource {
  /** The current leader's ID, 0 when none. */
  leaderId(): bigint;
  /** Names of the active alarms ("NOSPACE", "CORRUPT"); the alarm feature provides them. */
  alarms(): readonly string[];
  /** A read of the local store, linearizable (ReadIndex) unless `serializable`. */
  read(serializable: boolean): Promise<EtcdError | null>;
  /** True for a learner, which /readyz reports as not ready. */
  isLearner(): boolean;
}

/** /health's options, from its query: `?serializable=true`, `?exclude=NOSPACE`. */
export interface HealthQuery {
  readonly serializable: boolean;
  readonly exclude: ReadonlySet<string>;
}

/** /health's verdict: null when healthy, else etcd's reason ("RAFT NO LEADER", "ALARM NOSPACE"). */
export async function unhealthyReason(src: HealthSource, q: HealthQuery): Promise<string | null> {
  for (const a of src.alarms()) {
    if (q.exclude.has(a)) continue;
    return a === "NOSPACE" || a === "CORRUPT" ? `ALARM ${a}` : "ALARM UNKNOWN";
  }
  if (!q.serializable && src.leaderId() === 0n) return "RAFT NO LEADER";
  const err = await withDeadline(src.read(q.serializable), READ_DEADLINE_MS);
  return err === null
    ? null
    : `RANGE ERROR:${err === "deadline" ? "context deadline exceeded" : err.message}`;
}

/** etcd gives /health's read one second: a member that lost its quorum is unhealthy, not hung. */
const READ_DEADLINE_MS = 1000;

type Check = () => Promise<string | null>;

function checks(src: HealthSource): { livez: Map<string, Check>; readyz: Map<string, Check> } {
  const read = (serializable: boolean): Check => async () => (await src.read(serializable))?.message ?? null;
  const corrupt: Check = () =>
    Promise.resolve(src.alarms().includes("CORRUPT") ? "alarm activated: CORRUPT" : null);
  const learner: Check = () => Promise.resolve(src.isLearner() ? "not supported for learner" : null);
  return {
    livez: new Map([["serializable_read", read(true)]]),
    readyz: new Map([
      ["data_corruption", corrupt],
      ["serializable_read", read(true)],
      ["linearizable_read", read(false)],
      ["non_learner", learner],
    ]),
  };
}

/** Registers /livez and /readyz, each with its per-check sub-paths. */
export function probeRoutes(app: Hono, src: HealthSource): void {
  for (const [kind, registry] of Object.entries(checks(src))) {
    const root = `/${kind}`;
    app.all(root, (c) => runChecks(c.req.raw, [...registry].filter(([n]) => !excluded(c.req.raw).has(n))));
    for (const [name, check] of registry) {
      app.all(`${root}/${name}`, (c) => runChecks(c.req.raw, [[name, check]]));
    }
  }
}

function excluded(req: Request): Set<string> {
  return new Set(new URL(req.url).searchParams.getAll("exclude").filter((s) => s !== ""));
}

async function runChecks(req: Request, list: [string, Check][]): Promise<Response> {
  if (req.method !== "GET") return methodNotAllowed();
  let report = "";
  let ok = true;
  for (const [name, check] of list) {
    const failure = await check();
    if (failure === null) report += `[+]${name} ok\n`;
    else {
      ok = false;
      report += `[-]${name} failed: ${failure}\n`;
    }
  }
  // Like etcd: failures always say why (http.Error appends a newline); successes only when asked.
  if (!ok) return httpError(report, 503);
  const verbose = new URL(req.url).searchParams.has("verbose");
  return textResponse((verbose ? report : "") + "ok\n", 200);
}

function textResponse(body: string, status: number, extra: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", ...extra },
  });
}

/** Go's http.Error: the text and a newline, as plain text the browser must not sniff. */
export function httpError(text: string, status: number, extra: Record<string, string> = {}): Response {
  return textResponse(text + "\n", status, extra);
}

/** etcd's answer to a probe (or /version) asked with anything but GET. */
export function methodNotAllowed(): Response {
  return httpError("Method Not Allowed", 405, { Allow: "GET" });
}
