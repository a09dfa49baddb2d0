/**
 * What a learner answers (etcd's v3rpc interceptors): a learner is not yet a full member
 * and may lag, so it serves only Status and serializable Range; every other call, unary
 * or streaming, is refused with "etcdserver: rpc not supported for learner" and clients
 * move on to another endpoint.
 */
import { Errors, type EtcdError } from "../api/errors.ts";

const STATUS = "/etcdserverpb.Maintenance/Status";
const RANGE = "/etcdserverpb.KV/Range";

/** An `admit` check for the gRPC server: refuses what a learner must not serve while `isLearner()`. */
export function learnerAdmission(isLearner: () => boolean): (path: string, req: unknown) => EtcdError | null {
  return (path, req) => {
    if (!isLearner() || path === STATUS) return null;
    if (path === RANGE && (req as { serializable?: boolean } | undefined)?.serializable === true) return null;
    return Errors.NotSupportedForLearner;
  };
}
