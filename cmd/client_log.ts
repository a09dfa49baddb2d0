/**
 * The warnings clientv3 logs on etcdctl's stderr (zap JSON at warn level) for failed
 * attempts of unary calls: a failed Authenticate (e.g. with --user while auth is off) and
 * a call retried with a new token. Scripts filter them by shape, so the shape is etcd's.
 */
import type { FailedAttempt } from "../client/client.ts";
import type { Sink } from "./io.ts";
import { grpcStatusText } from "./rpc_error.ts";

/** A client's logger: one per client, as clientv3 names each client's target by a UUID. */
export function clientv3Warnings(stderr: Sink): (failure: FailedAttempt) => void {
  const id = crypto.randomUUID();
  return ({ endpoint, attempt, error, kind }) => {
    const target = `endpoint://client-${id}/${endpoint.replace(/^[a-z]+:\/\//, "")}`;
    const fields = kind === "attempt"
      ? {
        caller: "clientv3/retry_interceptor.go:62",
        msg: "retrying of unary invoker failed",
        target,
        attempt,
        error: grpcStatusText(error),
      }
      : {
        caller: "clientv3/retry_interceptor.go:79",
        msg: "retrying of unary invoker failed to fetch new auth token",
        target,
        error: grpcStatusText(error),
      };
    stderr.write(`${JSON.stringify({ level: "warn", ts: zapTime(new Date()), ...fields })}\n`);
  };
}

// zap's ISO8601 time: local time to the millisecond, "Z" or "+hhmm" for the zone.
function zapTime(d: Date): string {
  const p = (n: number, w = 2) => String(Math.abs(n)).padStart(w, "0");
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? "Z" : `${off > 0 ? "+" : "-"}${p(Math.trunc(off / 60))}${p(off % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${
    p(d.getMinutes())
  }:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}${zone}`;
}
