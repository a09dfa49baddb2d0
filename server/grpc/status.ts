/**
 * How a gRPC call ends: a status code and message, sent in trailers.
 * Messages are percent-encoded as the gRPC spec requires (clients decode them, and
 * etcd's messages contain spaces and colons which are fine, but user data may not be).
 */
import { Code, type EtcdError, etcdError } from "../../api/errors.ts";

/** Percent-encodes a grpc-message value: bytes outside printable ASCII, and '%'. */
export function encodeGrpcMessage(msg: string): string {
  let plain = true;
  for (let i = 0; i < msg.length; i++) {
    const c = msg.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return msg;
  const bytes = new TextEncoder().encode(msg);
  let out = "";
  for (const b of bytes) {
    out += b < 0x20 || b > 0x7e || b === 0x25
      ? "%" + b.toString(16).toUpperCase().padStart(2, "0")
      : String.fromCharCode(b);
  }
  return out;
}

/** Unimplemented, with the method named so a user knows what is missing. */
export function unimplemented(path: string): EtcdError {
  return etcdError(
    Code.Unimplemented,
    `unknown method ${path.split("/").pop()} for service ${path.split("/")[1]}`,
  );
}

/** For a service we speak but have not built yet. */
export function notBuiltYet(path: string): EtcdError {
  return etcdError(Code.Unimplemented, `etcdts: ${path} is not implemented yet`);
}
