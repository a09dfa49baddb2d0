/**
 * How etcdctl words a failed call: clientv3 turns etcd's own statuses into their bare
 * message ("etcdserver: ..."), an expired or cancelled context into Go's context errors,
 * and anything else into grpc-go's "rpc error: code = X desc = Y".
 */
import { Code, codeName, GrpcError } from "../client/status.ts";

/** The text etcdctl prints after "Error: " for a failed call. */
export function rpcErrorText(err: unknown): string {
  if (!(err instanceof GrpcError)) return err instanceof Error ? err.message : String(err);
  if (err.message.startsWith("etcdserver: ")) return err.message;
  if (err.code === Code.DeadlineExceeded) return "context deadline exceeded";
  if (err.code === Code.Canceled && err.local) return "context canceled";
  return grpcStatusText(err);
}

/** grpc-go's text for a status error, as clientv3's logs show it. */
export function grpcStatusText(err: GrpcError): string {
  return `rpc error: code = ${codeName(err.code)} desc = ${err.message}`;
}
