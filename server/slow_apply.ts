/**
 * etcd's warning on slow applies (--experimental-warning-apply-duration): a request that
 * took longer than the threshold to apply is logged with etcd's message and fields, and
 * counted in etcd_server_slow_apply_total, so an operator's alerts on either still fire.
 */
import { formatGoDuration } from "../lib/gofmt.ts";
import type { InternalRaftRequest } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { requestKind } from "./apply/apply.ts";
import { log } from "./log.ts";

/** The observer StateMachine.observeApply takes. */
export function slowApplyWarner(
  thresholdMs: number,
  countSlow: () => void,
): (request: InternalRaftRequest, ms: number) => void {
  return (request, ms) => {
    if (ms <= thresholdMs) return;
    countSlow();
    log.warn("apply request took too long", {
      took: formatGoDuration(ms),
      "expected-duration": formatGoDuration(thresholdMs),
      prefix: "",
      request: describe(request),
    });
  };
}

/** A short text of the request, in the shape of etcd's InternalRaftStringer (`put:<key:"k" value_size:3 >`). */
function describe(request: InternalRaftRequest): string {
  const kind = requestKind(request);
  if (kind === null) return "";
  const body = request[kind] as { key?: Uint8Array; value?: Uint8Array } | undefined;
  const fields: string[] = [];
  if (body?.key instanceof Uint8Array) {
    fields.push(`key:${JSON.stringify(new TextDecoder().decode(body.key))}`);
  }
  if (body?.value instanceof Uint8Array) fields.push(`value_size:${body.value.length}`);
  return `${kind}:<${fields.map((f) => f + " ").join("")}>`;
}
