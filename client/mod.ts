/**
 * etcdts's gRPC client: import from here. See client.ts for usage.
 */
export {
  type BidiStream,
  type CallOptions,
  Client,
  type ClientOptions,
  type Metadata,
  methodPath,
  type ServerStream,
  type ServiceClient,
  type TlsOptions,
} from "./client.ts";
export { Code, codeName, GrpcError } from "./status.ts";
