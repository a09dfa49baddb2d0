/**
 * etcd's gateway JSON (grpc-gateway v1 with `JSONPb{OrigName: true}`): proto field names,
 * defaults omitted, 64-bit integers as strings, bytes as base64, enums by name; errors as
 * `{"error","message","code"}`, stream items as `{"result":…}` / `{"error":{…}}` lines.
 */
import {
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonValue,
  type MessageShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { Code, type EtcdError, etcdError } from "../../api/errors.ts";
import { exactIntegers, parseJson } from "./json_ints.ts";
import { frameErrorMessage } from "../../api/grpc-frame.ts";

/** grpc-gateway's runtime.HTTPStatusFromCode. */
const HTTP_STATUS: Readonly<Record<number, number>> = {
  [Code.OK]: 200,
  [Code.Canceled]: 408,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.Unauthenticated]: 401,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 412,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
};

/** Go's net/http status texts for the statuses above (stream errors carry them). */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  412: "Precondition Failed",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** The HTTP status the gateway answers a gRPC code with. */
export function httpStatusOf(code: number): number {
  return HTTP_STATUS[code] ?? 500;
}

/**
 * Go's encoding/json escapes <, > and & (and U+2028/9) inside strings; outside strings
 * JSON has none of them, so escaping the whole text is the same.
 */
function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** A message as etcd's gateway writes it. */
export function messageJson(schema: DescMessage, msg: unknown): JsonValue {
  let m = msg as MessageShape<DescMessage>;
  // Watch responses carry pre-encoded events as unknown fields (server/watch/encode.ts):
  // decode them into real fields first, or JSON would leave them out.
  if (m.$unknown !== undefined && m.$unknown.length > 0) m = fromBinary(schema, toBinary(schema, m));
  return toJson(schema, m, { useProtoFieldName: true });
}

/** A unary response body. */
export function encodeMessage(schema: DescMessage, msg: unknown): string {
  return goEscape(JSON.stringify(messageJson(schema, msg)));
}

/** A unary error body: `{"error","message","code"}`. */
export function encodeError(err: EtcdError): string {
  return goEscape(JSON.stringify({ error: err.message, message: err.message, code: err.code }));
}

/** One item of a streamed response, newline-terminated. */
export function encodeStreamResult(schema: DescMessage, msg: unknown): string {
  return goEscape(JSON.stringify({ result: messageJson(schema, msg) })) + "\n";
}

/** The error that ends a streamed response (grpc-gateway writes no newline after it). */
export function encodeStreamError(err: EtcdError): string {
  const http = httpStatusOf(err.code);
  return goEscape(JSON.stringify({
    error: {
      grpc_code: err.code,
      http_code: http,
      message: err.message,
      http_status: STATUS_TEXT[http] ?? "",
    },
  }));
}

/**
 * Parses one request message from JSON text; empty text is the empty message, as in
 * grpc-gateway (it ignores io.EOF). Unknown fields are ignored like jsonpb does.
 */
export function decodeMessage(schema: DescMessage, text: string): unknown | EtcdError {
  if (text.trim() === "") return fromJson(schema, {});
  let json: unknown;
  try {
    json = parseJson(text);
  } catch {
    return etcdError(Code.InvalidArgument, syntaxError(text));
  }
  return decodeValue(schema, json);
}

/** A value from `parseJson` as a request message, its integers exact. */
export function decodeValue(schema: DescMessage, json: unknown): unknown | EtcdError {
  const bad = exactIntegers(schema, json);
  if (bad !== null) return etcdError(Code.InvalidArgument, bad.error);
  try {
    return fromJson(schema, json as JsonValue, { ignoreUnknownFields: true });
  } catch (e) {
    return etcdError(Code.InvalidArgument, (e as Error).message);
  }
}

/** Go's json error for the common case, text that does not start like a JSON value. */
function syntaxError(text: string): string {
  const first = text.trimStart()[0];
  if (first !== undefined && !/[{\["\-0-9tfn]/.test(first)) {
    return `invalid character '${first}' looking for beginning of value`;
  }
  return "unexpected EOF";
}

/**
 * Splits a stream of concatenated JSON values (a request body as grpc-gateway's decoder
 * reads it: one value after another, each usable as soon as it is complete) as its text
 * arrives. A syntax error keeps the values before it and stops the split (`error`).
 */
const QUOTE_CHAR = '"';
const BACKSLASH_CHAR = "\\";
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Go's json isSpace: the only characters allowed between values. */
function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The index of `ch` in `s` from `from`, or `s.length`. */
function nextOf(s: string, ch: string, from: number): number {
  const at = s.indexOf(ch, from);
  return at < 0 ? s.length : at;
}

export class JsonValueSplitter {
  readonly #max: number;
  /**
   * The text of the value being read, as it arrived: joined once when the value ends. (A
   * string grown by `+=` and scanned after each chunk was flattened again per chunk: a 3 MB
   * body took 0.1 s to refuse, stalling every other client.)
   */
  #parts: string[] = [];
  /** Characters taken since the last complete value (whitespace before it included). */
  #taken = 0;
  #tooLarge = false;
  #depth = 0;
  #inString = false;
  #escaped = false;
  #error: string | null = null;

  /** `maxValueChars`: past this much text without a complete value, the split stops. */
  constructor(maxValueChars = Infinity) {
    this.#max = maxValueChars;
  }

  /** Go's message for the first syntax error, or null. */
  get error(): string | null {
    return this.#error;
  }

  /** The split stopped because a value was too large (`error` says so as grpc-go would). */
  get tooLarge(): boolean {
    return this.#tooLarge;
  }

  /** True when text of an unfinished value is buffered (at the end of a body: unexpected EOF). */
  get incomplete(): boolean {
    return this.#depth > 0;
  }

  /** Feeds text; returns the values it completed (parsed by `parseJson`). */
  push(b: string): unknown[] {
    if (this.#error !== null) return [];
    const out: unknown[] = [];
    // By char code, with the state in locals, and through a string's plain run with
    // indexOf: ~50 ns a char stalled every other client for the 0.1-0.2 s a too-large
    // body took to refuse. (A failure needs no state saved: the split is over.)
    const max = this.#max;
    let taken = this.#taken;
    let depth = this.#depth;
    let inString = this.#inString;
    let escaped = this.#escaped;
    // Where the value being read starts in `b`: 0 if it began in an earlier chunk.
    let start = depth > 0 ? 0 : -1;
    // The next quote and backslash in `b` as last looked up, looked up again only once
    // passed: a chunk is searched through once. (Looked up afresh in every string, a chunk
    // with no backslash was searched to its end per string: a 512 KiB read of keep-alives,
    // 70,000 short strings, took 0.15 s, stalling every other client.)
    let quoteAt = -1;
    let backslashAt = -1;
    for (let i = 0; i < b.length; i++) {
      if (++taken > max) {
        this.#tooLarge = true;
        const size = taken + b.length - i - 1;
        return this.#fail(out, frameErrorMessage({ frameError: "too-large", size, max }));
      }
      const c = b.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
        else {
          // Skip to the next quote or backslash, but no further than the size limit allows.
          if (quoteAt <= i) quoteAt = nextOf(b, QUOTE_CHAR, i + 1);
          if (backslashAt <= i) backslashAt = nextOf(b, BACKSLASH_CHAR, i + 1);
          const end = Math.min(quoteAt, backslashAt, i + 1 + max - taken);
          taken += end - i - 1;
          i = end - 1;
        }
        continue;
      }
      if (c === QUOTE) inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (depth++ === 0) start = i;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === 0) {
          // Most values arrive whole in one chunk: no join for those.
          let value = b.slice(start, i + 1);
          if (this.#parts.length > 0) {
            this.#parts.push(value);
            value = this.#parts.join("");
            this.#parts = [];
          }
          try {
            out.push(parseJson(value));
          } catch {
            return this.#fail(out, syntaxError(value));
          }
          start = -1;
          taken = 0;
        }
      } else if (depth === 0 && !isJsonSpace(c)) {
        return this.#fail(out, `invalid character '${b[i]}' looking for beginning of value`);
      }
    }
    this.#taken = taken;
    this.#depth = depth;
    this.#inString = inString;
    this.#escaped = escaped;
    if (depth > 0) this.#parts.push(start === 0 ? b : b.slice(start));
    return out;
  }

  #fail(out: unknown[], message: string): unknown[] {
    this.#error = message;
    this.#parts = [];
    return out;
  }
}
