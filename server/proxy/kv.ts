/**
 * The proxy's KV service: forwarded upstream, through the --namespace mapping when one is
 * given (requests prefixed on the way up, responses unprefixed on the way down).
 */
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Client } from "../../client/client.ts";
import { type EtcdError, isEtcdError } from "../../api/errors.ts";
import type { CallContext, ImplOf } from "../grpc/server.ts";
import { forwardService } from "./forward.ts";
import type { Namespace } from "./namespace.ts";

type KvImpl = ImplOf<typeof KV>;

/** Wraps one unary method: the request mapped (or refused) before, the response mapped after. */
function mapped<I, O>(
  call: (req: I, ctx: CallContext) => O | EtcdError | Promise<O | EtcdError>,
  req: (r: I) => I | EtcdError,
  res: (r: O) => O,
): (r: I, ctx: CallContext) => Promise<unknown> {
  return async (r, ctx) => {
    const up = req(r);
    if (isEtcdError(up)) return up;
    const out = await call(up, ctx);
    return isEtcdError(out) ? out : res(out);
  };
}

export function kvProxy(client: Client, ns: Namespace | null): KvImpl {
  const forward = forwardService(KV, client);
  if (ns === null) return forward;
  return {
    ...forward,
    range: mapped(forward.range, (r) => ns.range(r), (r) => ns.rangeResponse(r)),
    put: mapped(forward.put, (r) => ns.put(r), (r) => ns.putResponse(r)),
    deleteRange: mapped(forward.deleteRange, (r) => ns.deleteRange(r), (r) => ns.deleteRangeResponse(r)),
    txn: mapped(forward.txn, (r) => ns.txn(r), (r) => ns.txnResponse(r)),
  } as KvImpl;
}
