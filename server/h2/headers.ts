/**
 * Header blocks both ways: decoded request fields → a plain object (what handlers read),
 * and response headers → an HPACK block. Responses never use the dynamic table
 * (h2/hpack.ts's encoder), so a block can be encoded once and sent on every stream:
 * the gRPC layer pre-encodes its constant headers and trailers.
 */
import { encodeHeaders, type HeaderField } from "../../h2/hpack.ts";

/** Request headers by lower-case name; repeated fields are joined with ", ". */
export type RequestHeaders = Record<string, string>;

/** Response headers as handlers give them (`:status` may be a number). */
export type OutgoingHeaders = Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** Why a request's header block is refused (a stream error, RST_STREAM PROTOCOL_ERROR). */
export class MalformedHeaders {
  constructor(readonly reason: string) {}
}

/**
 * The largest header list we take, counted as SETTINGS_MAX_HEADER_LIST_SIZE counts it
 * (name + value + 32 per field): grpc-go's server default. A small block can reference a
 * large table entry many times, so the decoded size is what must be bounded.
 */
export const MAX_HEADER_LIST_SIZE = 16 << 20;

/** The request headers of a decoded block, checked as RFC 9113 §8.3 asks of a server. */
export function requestHeaders(fields: readonly HeaderField[]): RequestHeaders | MalformedHeaders {
  const out: RequestHeaders = {};
  let regular = false;
  let size = 0;
  for (const [name, value] of fields) {
    size += name.length + value.length + 32;
    if (size > MAX_HEADER_LIST_SIZE) return new MalformedHeaders("header list too large");
    if (!isLowerCaseName(name) || name === "__proto__") {
      return new MalformedHeaders(`invalid header name ${JSON.stringify(name)}`);
    }
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (regular) return new MalformedHeaders(`pseudo-header ${name} after regular headers`);
      if (out[name] !== undefined) return new MalformedHeaders(`duplicate pseudo-header ${name}`);
      out[name] = value;
      continue;
    }
    regular = true;
    if (name === "connection") return new MalformedHeaders("connection-specific header");
    const had = out[name];
    out[name] = had === undefined ? value : `${had}, ${value}`;
  }
  if (out[":method"] === undefined || out[":path"] === undefined) {
    return new MalformedHeaders("missing :method or :path");
  }
  return out;
}

/** Non-empty and without upper-case letters (RFC 9113 §8.2.1), checked without allocating. */
function isLowerCaseName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return false;
  }
  return name.length > 0;
}

/** HTTP/1.1 hop-by-hop headers HTTP/2 forbids (RFC 9113 §8.2.2): dropped from responses. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/**
 * An HPACK block for `headers`: pseudo-headers first, array values as repeated fields,
 * hop-by-hop headers (an HTTP/1.1 app may set them) left out.
 */
export function encodeHeaderBlock(headers: OutgoingHeaders): Uint8Array {
  const pseudo: HeaderField[] = [];
  const regular: HeaderField[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const n = name.toLowerCase();
    if (HOP_BY_HOP.has(n)) continue;
    const to = n[0] === ":" ? pseudo : regular;
    if (Array.isArray(value)) { for (const v of value) to.push([n, String(v)]); }
    else to.push([n, String(value)]);
  }
  return encodeHeaders([...pseudo, ...regular]);
}
