/**
 * Flag definitions and a parser with spf13/pflag's exact behaviour, because scripts depend
 * on its corner cases: `--bool=false`, `--bool false` (false stays positional), `-w json`,
 * `-wjson`, `-w=json`, flags after positionals, `--` ending flags, and Go's error texts.
 */
import {
  formatGoDuration,
  goQuote,
  goQuoteRune,
  parseGoBool,
  parseGoDuration,
  parseGoInt64,
  parseGoUint64,
} from "./gofmt.ts";

/** A flag's value type, as pflag names them in help and errors. */
export type FlagKind = "bool" | "string" | "stringSlice" | "duration" | "int64" | "uint32";

/** One flag as a command declares it. `def` is the default in the flag's own type. */
export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  def: boolean | string | string[] | number | bigint;
  usage: string;
  /** Accepted but left out of help (flags newer etcdctl versions added). */
  hidden?: boolean;
}

/** Parsed values: every declared flag has a value; `changed` lists those set by args or env. */
export interface FlagValues {
  readonly values: Map<string, FlagValue>;
  readonly changed: Set<string>;
}

export type FlagValue = boolean | string | string[] | number | bigint;

/** The result of parsing: positional args (with where `--` was, if any) or pflag's error text. */
export type ParseResult =
  | { ok: true; args: string[]; help: boolean }
  | { ok: false; error: string };

/** Fresh values holding every flag's default. */
export function defaults(specs: readonly FlagSpec[]): FlagValues {
  const values = new Map<string, FlagValue>();
  for (const f of specs) values.set(f.name, Array.isArray(f.def) ? [...f.def] : f.def);
  return { values, changed: new Set() };
}

/**
 * Sets a flag from text, as pflag's Value.Set does (a string slice's first Set replaces
 * the default, later ones append). Returns an error text on a bad value.
 */
export function setFlag(spec: FlagSpec, fv: FlagValues, text: string): string | undefined {
  const parsed = parseValue(spec.kind, text);
  if (typeof parsed === "object" && parsed !== null && "error" in parsed) {
    const name = spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
    return `invalid argument ${goQuote(text)} for ${goQuote(name)} flag: ${parsed.error}`;
  }
  if (spec.kind === "stringSlice" && fv.changed.has(spec.name)) {
    fv.values.set(spec.name, [...(fv.values.get(spec.name) as string[]), ...(parsed as string[])]);
  } else {
    fv.values.set(spec.name, parsed as FlagValue);
  }
  fv.changed.add(spec.name);
  return undefined;
}

function parseValue(kind: FlagKind, text: string): FlagValue | { error: string } {
  switch (kind) {
    case "bool": {
      const b = parseGoBool(text);
      return b ?? { error: `strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax` };
    }
    case "string":
      return text;
    case "stringSlice":
      return text === "" ? [] : parseCsvLine(text);
    case "duration":
      return parseGoDuration(text);
    case "int64":
      return parseGoInt64(text, 0);
    case "uint32": {
      const v = parseGoUint64(text, 0);
      if (typeof v === "bigint" && v >= 1n << 32n) {
        return { error: `strconv.ParseUint: parsing ${goQuote(text)}: value out of range` };
      }
      return v;
    }
  }
}

// pflag reads a slice value with encoding/csv: commas split, double quotes group.
function parseCsvLine(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") out.push(cur), (cur = "");
    else cur += c;
  }
  out.push(cur);
  return out;
}

/** How pflag prints a default in help: strings quoted by the caller, slices as [a,b]. */
export function defaultText(spec: FlagSpec): string {
  switch (spec.kind) {
    case "duration":
      return formatGoDuration(spec.def as number);
    case "stringSlice":
      return `[${(spec.def as string[]).join(",")}]`;
    default:
      return String(spec.def);
  }
}

/**
 * Parses args against the given flags (the command's own plus inherited ones).
 * Unknown `--help`/`-h` request help, as in pflag.
 */
export function parseFlags(args: readonly string[], specs: readonly FlagSpec[], fv: FlagValues): ParseResult {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const positional: string[] = [];
  let help = false;
  let rest = [...args];
  while (rest.length > 0) {
    const s = rest.shift()!;
    if (s.length < 2 || s[0] !== "-") {
      positional.push(s);
      continue;
    }
    if (s === "--") {
      positional.push(...rest);
      break;
    }
    if (s[1] === "-") {
      const body = s.slice(2);
      if (body === "" || body[0] === "-" || body[0] === "=") {
        return { ok: false, error: `bad flag syntax: ${s}` };
      }
      const eq = body.indexOf("=");
      const name = eq < 0 ? body : body.slice(0, eq);
      const spec = byName.get(name);
      if (!spec) {
        if (name === "help") {
          help = true;
          continue;
        }
        return { ok: false, error: `unknown flag: --${name}` };
      }
      let value: string;
      if (eq >= 0) value = body.slice(eq + 1);
      else if (spec.kind === "bool") value = "true";
      else if (rest.length > 0) value = rest.shift()!;
      else return { ok: false, error: `flag needs an argument: ${s}` };
      const err = setFlag(spec, fv, value);
      if (err) return { ok: false, error: err };
      if (name === "help" && fv.values.get("help") === true) help = true;
      continue;
    }
    // one or more shorthands: -i, -w json, -wjson, -w=json, -ih
    let shorts = s.slice(1);
    const following = rest;
    while (shorts.length > 0) {
      const c = shorts[0];
      const spec = byShort.get(c);
      if (!spec) {
        if (c === "h") {
          help = true;
          shorts = shorts.slice(1);
          continue;
        }
        return { ok: false, error: `unknown shorthand flag: ${goQuoteRune(c)} in -${shorts}` };
      }
      let value: string;
      if (shorts.length > 2 && shorts[1] === "=") (value = shorts.slice(2)), (shorts = "");
      else if (spec.kind === "bool") (value = "true"), (shorts = shorts.slice(1));
      else if (shorts.length > 1) (value = shorts.slice(1)), (shorts = "");
      else if (following.length > 0) (value = following[0]), (rest = following.slice(1)), (shorts = "");
      else return { ok: false, error: `flag needs an argument: ${goQuoteRune(c)} in -${shorts}` };
      const err = setFlag(spec, fv, value);
      if (err) return { ok: false, error: err };
      if (spec.name === "help" && fv.values.get("help") === true) help = true;
    }
  }
  return { ok: true, args: positional, help };
}

/** pflag's FlagUsages (cobra's default usage template), trailing whitespace trimmed. */
export function pflagUsages(specs: readonly FlagSpec[]): string {
  const typeNames: Record<FlagKind, string> = {
    bool: "",
    string: "string",
    stringSlice: "strings",
    duration: "duration",
    int64: "int",
    uint32: "uint32",
  };
  const rows = specs.filter((f) => !f.hidden).map((f) => {
    let head = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    if (typeNames[f.kind]) head += ` ${typeNames[f.kind]}`;
    let usage = f.usage;
    const def = defaultText(f);
    const isZero = f.kind === "bool"
      ? def === "false"
      : f.kind === "string"
      ? def === ""
      : f.kind === "stringSlice"
      ? def === "[]"
      : def === "0" || def === "0s";
    if (!isZero) usage += f.kind === "string" ? ` (default ${goQuote(def)})` : ` (default ${def})`;
    return { head, usage };
  });
  const max = Math.max(0, ...rows.map((r) => r.head.length));
  return rows.map((r) => `${r.head} ${" ".repeat(max + 1 - r.head.length)} ${r.usage}`).join("\n").trimEnd();
}
