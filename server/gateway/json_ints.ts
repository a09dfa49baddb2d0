/**
 * Integers on the JSON gateway, read as etcd's gateway reads them (golang/protobuf's jsonpb
 * over encoding/json): every int64/uint64 field exact up to its type's range, whether the
 * client sends it as a JSON number or a string, and Go's error text for anything else.
 *
 * `JSON.parse` alone turns an integer above 2^53 into the nearest double, so a lease ID a
 * client echoes back as a number (`"lease": 7587899365453629445`, as OpenStack's etcd3gw
 * does) would name another lease. `parseJson` keeps the source text of every number a
 * double cannot reproduce (JSON.parse's source-text access); `exactIntegers` then checks
 * each integer field against the request's schema and hands protobuf-es the exact decimal.
 */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/** A JSON number whose text no double reproduces: `7587899365453629445`, `1e3`, `1.0`. */
export class RawNumber {
  constructor(readonly source: string) {}
}

/**
 * Text with no run of 16 digits and no digit followed by `.`, `e` or `E` has only numbers
 * that are safe integers written as JSON.parse would print them: the plain parse is exact.
 */
const MAYBE_INEXACT = /\d{16}|\d[.eE]/;

/** JSON.parse, with numbers a double would change kept as `RawNumber`. Throws on bad syntax. */
export function parseJson(text: string): unknown {
  return MAYBE_INEXACT.test(text) ? JSON.parse(text, keepSource) : JSON.parse(text);
}

function keepSource(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number" || context?.source === undefined) return value;
  return context.source === String(value) ? value : new RawNumber(context.source);
}

/** How one integer field is read: its Go type's name and range. */
interface IntType {
  readonly goName: string;
  readonly min: bigint;
  readonly max: bigint;
  /** 64-bit values go to protobuf-es as decimal strings, 32-bit ones as numbers. */
  readonly wide: boolean;
}

const INT_TYPES: Partial<Record<ScalarType, IntType>> = {
  [ScalarType.INT64]: { goName: "int64", min: -(1n << 63n), max: (1n << 63n) - 1n, wide: true },
  [ScalarType.SINT64]: { goName: "int64", min: -(1n << 63n), max: (1n << 63n) - 1n, wide: true },
  [ScalarType.SFIXED64]: { goName: "int64", min: -(1n << 63n), max: (1n << 63n) - 1n, wide: true },
  [ScalarType.UINT64]: { goName: "uint64", min: 0n, max: (1n << 64n) - 1n, wide: true },
  [ScalarType.FIXED64]: { goName: "uint64", min: 0n, max: (1n << 64n) - 1n, wide: true },
  [ScalarType.INT32]: { goName: "int32", min: -(1n << 31n), max: (1n << 31n) - 1n, wide: false },
  [ScalarType.SINT32]: { goName: "int32", min: -(1n << 31n), max: (1n << 31n) - 1n, wide: false },
  [ScalarType.SFIXED32]: { goName: "int32", min: -(1n << 31n), max: (1n << 31n) - 1n, wide: false },
  [ScalarType.UINT32]: { goName: "uint32", min: 0n, max: (1n << 32n) - 1n, wide: false },
  [ScalarType.FIXED32]: { goName: "uint32", min: 0n, max: (1n << 32n) - 1n, wide: false },
};

/** gogo's Go name of an enum type: `etcdserverpb.RangeRequest.SortOrder` → `etcdserverpb.RangeRequest_SortOrder`. */
function goEnumName(e: DescEnum): string {
  const dot = e.typeName.indexOf(".");
  return e.typeName.slice(0, dot + 1) + e.typeName.slice(dot + 1).replaceAll(".", "_");
}

function enumType(e: DescEnum): IntType {
  return { goName: goEnumName(e), min: -(1n << 31n), max: (1n << 31n) - 1n, wide: false };
}

/** A message's fields by both JSON keys jsonpb accepts (proto name and lowerCamel name). */
const fieldsByKey = new WeakMap<DescMessage, Map<string, DescField>>();

function fieldOf(schema: DescMessage, key: string): DescField | undefined {
  let byKey = fieldsByKey.get(schema);
  if (byKey === undefined) {
    byKey = new Map();
    for (const f of schema.fields) byKey.set(f.name, f).set(f.jsonName, f);
    fieldsByKey.set(schema, byKey);
  }
  return byKey.get(key);
}

/** An error value: Go's text for a request a Go server cannot decode. */
export interface JsonIntError {
  readonly error: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof RawNumber);

/**
 * Checks and rewrites, in place, every integer field of a parsed request (nested messages
 * and lists included): a valid value becomes what protobuf-es reads exactly, any other
 * `RawNumber` its nearest double (so protobuf-es reports the type error as before). Other
 * fields are left for protobuf-es to judge.
 */
export function exactIntegers(schema: DescMessage, json: unknown): JsonIntError | null {
  if (!isObject(json)) return null;
  for (const key of Object.keys(json)) {
    const field = fieldOf(schema, key);
    if (field === undefined) continue; // unknown fields are ignored, as jsonpb does
    const value = json[key];
    if (field.fieldKind === "list" && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (field.listKind === "message") {
          const err = exactIntegers(field.message, item);
          if (err !== null) return err;
          continue;
        }
        const read = field.listKind === "enum" ? readEnum(item, field.enum) : readScalar(item, field.scalar);
        if ("error" in read) return read;
        value[i] = read.value;
      }
      continue;
    }
    if (field.fieldKind === "message") {
      const err = exactIntegers(field.message, value);
      if (err !== null) return err;
      continue;
    }
    if (field.fieldKind === "scalar" || field.fieldKind === "enum") {
      const read = field.fieldKind === "enum" ? readEnum(value, field.enum) : readScalar(value, field.scalar);
      if ("error" in read) return read;
      json[key] = read.value;
    }
  }
  return null;
}

/** A value read, or Go's error. */
type Read = { readonly value: unknown } | JsonIntError;

function readScalar(value: unknown, scalar: ScalarType): Read {
  const t = INT_TYPES[scalar];
  if (t === undefined) return { value: value instanceof RawNumber ? Number(value.source) : value };
  return readInt(value, t);
}

function readEnum(value: unknown, e: DescEnum): Read {
  if (typeof value !== "string") return readInt(value, enumType(e));
  // jsonpb looks enum names up itself (protobuf-es would word the error differently).
  if (e.values.some((v) => v.name === value)) return { value };
  return { error: `unknown value ${JSON.stringify(value)} for enum ${goEnumName(e)}` };
}

function readInt(value: unknown, t: IntType): Read {
  if (value === null) return { value }; // unset, as encoding/json leaves it
  if (typeof value === "string") return readUnquoted(value, t); // jsonpb drops an integer's quotes
  if (typeof value === "number") return readNumber(String(value), t);
  if (value instanceof RawNumber) return readNumber(value.source, t);
  const kind = typeof value === "boolean" ? "bool" : Array.isArray(value) ? "array" : "object";
  return { error: `json: cannot unmarshal ${kind} into Go value of type ${t.goName}` };
}

const INTEGER = /^-?(?:0|[1-9]\d*)$/;
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/;

function readNumber(source: string, t: IntType): Read {
  if (INTEGER.test(source)) {
    const n = BigInt(source);
    if (n >= t.min && n <= t.max) return { value: t.wide ? n.toString() : Number(n) };
  }
  return { error: `json: cannot unmarshal number ${source} into Go value of type ${t.goName}` };
}

/** The text of a quoted integer, as encoding/json reads it once jsonpb has dropped the quotes. */
function readUnquoted(text: string, t: IntType): Read {
  const s = text.trim();
  if (s === "") return { error: "unexpected end of JSON input" };
  if (s === "null") return { value: null };
  if (s === "true" || s === "false") return readInt(s === "true", t);
  const num = NUMBER.exec(s)?.[0];
  if (num === undefined) return { error: `invalid character '${s[0]}' looking for beginning of value` };
  if (num.length < s.length) return { error: `invalid character '${s[num.length]}' after top-level value` };
  return readNumber(num, t);
}
