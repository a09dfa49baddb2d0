/**
 * gRPC status as seen by a client: the error type every call rejects with, and the helpers
 * that read a status from HTTP/2 headers or trailers.
 */
import { Code } from "../api/errors.ts";

export { Code };

/** Go's grpc/codes names, used in "rpc error: code = X desc = Y" messages. */
const codeNames: readonly string[] = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** The name grpc-go gives a status code ("Unavailable"), or "Code(N)" for unknown codes. */
export function codeName(code: number): string {
  return codeNames[code] ?? `Code(${code})`;
}

/**
 * A failed call: the gRPC status code and message from the server, or a status the client
 * synthesised (Unavailable for a refused connection, DeadlineExceeded for a timeout).
 * `local` is true when the failure never reached a server (so retrying elsewhere is safe).
 */
export class GrpcError extends Error {
  readonly code: number;
  readonly local: boolean;
  /** The server's trailers or trailers-only headers, e.g. for etcd's error details. */
  readonly metadata: Record<string, string | string[] | undefined>;

  constructor(
    code: number,
    message: string,
    opts: { local?: boolean; metadata?: GrpcError["metadata"] } = {},
  ) {
    super(message);
    this.name = "GrpcError";
    this.code = code;
    this.local = opts.local ?? false;
    this.metadata = opts.metadata ?? {};
  }
}

/**
 * Reads grpc-status/grpc-message from trailers (or trailers-only headers).
 * Returns undefined for OK, a GrpcError otherwise; a missing grpc-status is Internal, as in grpc-go.
 */
export function statusFromTrailers(
  trailers: Record<string, string | string[] | undefined>,
): GrpcError | undefined {
  const raw = first(trailers["grpc-status"]);
  if (raw === undefined) {
    return new GrpcError(Code.Internal, "server closed the stream without sending trailers", {
      metadata: trailers,
    });
  }
  const code = Number.parseInt(raw, 10);
  if (code === Code.OK) return undefined;
  const message = decodeGrpcMessage(first(trailers["grpc-message"]) ?? "");
  return new GrpcError(Number.isNaN(code) ? Code.Unknown : code, message, { metadata: trailers });
}

/** Maps a non-200 HTTP status without grpc-status to a gRPC code, as the gRPC spec prescribes. */
export function statusFromHttp(httpStatus: number): GrpcError {
  const code = httpStatus === 400
    ? Code.Internal
    : httpStatus === 401
    ? Code.Unauthenticated
    : httpStatus === 403
    ? Code.PermissionDenied
    : httpStatus === 404
    ? Code.Unimplemented
    : [429, 502, 503, 504].includes(httpStatus)
    ? Code.Unavailable
    : Code.Unknown;
  return new GrpcError(code, `unexpected HTTP status code received from server: ${httpStatus}`);
}

/** grpc-message is percent-encoded UTF-8; malformed escapes are kept verbatim, as grpc-go does. */
export function decodeGrpcMessage(s: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }
}

/** Encodes a timeout for the grpc-timeout header: at most 8 digits, the finest unit that fits. */
export function encodeGrpcTimeout(ms: number): string {
  const t = Math.max(0, Math.ceil(ms));
  if (t < 1e8) return `${t}m`;
  if (t / 1000 < 1e8) return `${Math.ceil(t / 1000)}S`;
  return `${Math.ceil(t / 60000)}M`;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
