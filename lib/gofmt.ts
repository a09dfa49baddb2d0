/**
 * The few Go formatting rules etcdctl's output depends on (fmt %q, %x, Println of values,
 * time.Duration strings and parsing). Byte-identical output needs Go's rules, not JS's.
 */

const enc = new TextEncoder();

/** Bytes of a string argument as Go sees it (command-line args are UTF-8). */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/**
 * Go's strconv.Quote over raw bytes (what `%q` prints for `string(kv.Key)`): printable
 * runes as is, \a\b\f\n\r\t\v, \xNN for invalid UTF-8 and control bytes, \u/\U otherwise.
 */
export function goQuote(input: string | Uint8Array): string {
  const b = typeof input === "string" ? utf8(input) : input;
  let out = '"';
  for (let i = 0; i < b.length;) {
    const [cp, size] = decodeRune(b, i);
    if (cp < 0) {
      out += `\\x${hex2(b[i])}`;
      i += 1;
      continue;
    }
    i += size;
    out += quoteRune(cp);
  }
  return out + '"';
}

/** Go's %q of a single byte/rune as pflag prints it: 'x'. */
export function goQuoteRune(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  return `'${cp === 0x27 ? "\\'" : cp === 0x22 ? '"' : quoteRune(cp)}'`;
}

function quoteRune(cp: number): string {
  switch (cp) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
    case 0x07:
      return "\\a";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x0b:
      return "\\v";
  }
  if (cp === 0x20 || (cp > 0x20 && cp < 0x7f)) return String.fromCodePoint(cp);
  if (cp >= 0x80 && cp !== 0xfffd && printable.test(String.fromCodePoint(cp))) {
    return String.fromCodePoint(cp);
  }
  if (cp === 0xfffd) return "�";
  if (cp < 0x80) return `\\x${hex2(cp)}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\U${cp.toString(16).padStart(8, "0")}`;
}

// Decodes one UTF-8 rune at i: [codepoint, size], or [-1, 1] for an invalid byte (as Go does).
function decodeRune(b: Uint8Array, i: number): [number, number] {
  const c0 = b[i];
  if (c0 < 0x80) return [c0, 1];
  const need = c0 >= 0xf0 && c0 <= 0xf4 ? 3 : c0 >= 0xe0 ? (c0 <= 0xef ? 2 : -1) : c0 >= 0xc2 ? 1 : -1;
  if (need < 0 || i + need >= b.length + 0 && i + need > b.length - 1 + 1) return [-1, 1];
  let cp = c0 & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
  for (let k = 1; k <= need; k++) {
    const c = b[i + k];
    if (c === undefined || (c & 0xc0) !== 0x80) return [-1, 1];
    cp = (cp << 6) | (c & 0x3f);
  }
  const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
  return [cp, need + 1];
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Lower-case hex of bytes (Go's hex.EncodeToString). */
export function hexBytes(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += hex2(x);
  return s;
}

/** etcdctl's --hex rendering: every byte as \xNN. */
export function hexEscaped(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += `\\x${hex2(x)}`;
  return s;
}

const durationUnits: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration, in milliseconds; errors carry Go's message. */
export function parseGoDuration(s: string): number | { error: string } {
  const bad = { error: `time: invalid duration ${goQuote(s)}` };
  let rest = s;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return bad;
  let total = 0;
  while (rest !== "") {
    const m = /^(\d*)(\.\d*)?/.exec(rest)!;
    if (m[0] === "" || m[0] === ".") return bad;
    rest = rest.slice(m[0].length);
    const u = /^[^\d.]*/.exec(rest)![0];
    if (u === "") return { error: `time: missing unit in duration ${goQuote(s)}` };
    const mult = durationUnits[u];
    if (mult === undefined) return { error: `time: unknown unit ${goQuote(u)} in duration ${goQuote(s)}` };
    rest = rest.slice(u.length);
    total += Number.parseFloat(m[0].startsWith(".") ? `0${m[0]}` : m[0]) * mult;
  }
  return sign * total;
}

/** Go's time.Duration.String() for a millisecond value (e.g. 2000 → "2s", 1500 → "1.5s"). */
export function formatGoDuration(ms: number): string {
  return formatNanos(BigInt(Math.round(ms * 1e6)));
}

/** Go's time.Duration.String() for nanoseconds. */
export function formatNanos(ns: bigint): string {
  if (ns === 0n) return "0s";
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    // sub-second: ns, µs or ms with a fraction
    const [unit, div] = u < 1000n ? ["ns", 1n] : u < 1_000_000n ? ["µs", 1000n] : ["ms", 1_000_000n];
    out = fraction(u, div) + unit;
  } else {
    const h = u / 3_600_000_000_000n;
    u -= h * 3_600_000_000_000n;
    const m = u / 60_000_000_000n;
    u -= m * 60_000_000_000n;
    out = fraction(u, 1_000_000_000n) + "s";
    if (h > 0n || m > 0n) out = `${m}m${out}`;
    if (h > 0n) out = `${h}h${out}`;
  }
  return neg ? `-${out}` : out;
}

function fraction(v: bigint, div: bigint): string {
  const whole = v / div;
  const frac = v % div;
  if (frac === 0n) return `${whole}`;
  const digits = div.toString().length - 1;
  return `${whole}.${frac.toString().padStart(digits, "0").replace(/0+$/, "")}`;
}

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** Go's strconv.ParseInt(s, base, 64) with Go's error text. Base 0 accepts 0x/0o/0b/0 prefixes and _. */
export function parseGoInt64(s: string, base: number): bigint | { error: string } {
  const fn = "strconv.ParseInt";
  const syntax = { error: `${fn}: parsing ${goQuote(s)}: invalid syntax` };
  let t = s;
  let neg = false;
  if (t.startsWith("+") || t.startsWith("-")) {
    neg = t[0] === "-";
    t = t.slice(1);
  }
  let b = base;
  if (base === 0) {
    b = 10;
    if (/^0[xX]/.test(t)) (b = 16), (t = t.slice(2));
    else if (/^0[oO]/.test(t)) (b = 8), (t = t.slice(2));
    else if (/^0[bB]/.test(t)) (b = 2), (t = t.slice(2));
    else if (/^0\d/.test(t)) (b = 8), (t = t.slice(1));
    if (t.includes("_")) {
      if (!/^_?[^_]+(_[^_]+)*$/.test(t)) return syntax;
      t = t.replaceAll("_", "");
    }
  }
  const digits = "0123456789abcdefghijklmnopqrstuvwxyz".slice(0, b);
  if (t === "" || ![...t.toLowerCase()].every((c) => digits.includes(c))) return syntax;
  let v = 0n;
  for (const c of t.toLowerCase()) v = v * BigInt(b) + BigInt(digits.indexOf(c));
  const max = neg ? 1n << 63n : (1n << 63n) - 1n;
  if (v > max) return { error: `${fn}: parsing ${goQuote(s)}: value out of range` };
  return neg ? -v : v;
}

/** Go's strconv.ParseUint(s, base, 64). */
export function parseGoUint64(s: string, base: number): bigint | { error: string } {
  const fn = "strconv.ParseUint";
  if (s.startsWith("+") || s.startsWith("-")) {
    return { error: `${fn}: parsing ${goQuote(s)}: invalid syntax` };
  }
  const v = parseGoInt64(s.length > 0 ? s : "x", base === 0 ? 0 : base);
  if (typeof v !== "bigint") {
    // re-check beyond int64 range
    const digits = "0123456789abcdef".slice(0, base || 10);
    if (
      /value out of range/.test(v.error) || [...s.toLowerCase()].every((c) => digits.includes(c)) && s !== ""
    ) {
      let n = 0n;
      for (const c of s.toLowerCase()) n = n * BigInt(base || 10) + BigInt(digits.indexOf(c));
      if (n < 1n << 64n) return n;
      return { error: `${fn}: parsing ${goQuote(s)}: value out of range` };
    }
    return { error: v.error.replace("strconv.ParseInt", fn) };
  }
  return v;
}
