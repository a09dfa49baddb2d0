/**
 * `txn [-i]` (etcdctl's txn_command.go): compares, then success ops, then failure ops, each
 * block ended by an empty line, read from stdin. The line grammar, its error messages and
 * its quirks (argify's single-quote slicing) follow etcdctl 3.4 exactly.
 */
import { type Command, findCommand, type RunContext } from "./command.ts";
import { CliError, ExitCode, fail } from "./errors.ts";
import { defaults, parseFlags, pflagUsages } from "../lib/pflag.ts";
import { parseGoInt64, utf8 } from "./gofmt.ts";
import { LineReader } from "./io.ts";
import { delCommand, deleteRequest, getCommand, putCommand, putRequest, rangeRequest } from "./kv.ts";
import { show } from "./print/printer.ts";
import { runRpc } from "./rpc.ts";

type CompareInit = {
  result: number;
  target: number;
  key: Uint8Array;
  targetUnion: { case: "version" | "createRevision" | "modRevision" | "lease"; value: bigint } | {
    case: "value";
    value: Uint8Array;
  };
};
type RequestOpInit = {
  request: { case: "requestPut" | "requestRange" | "requestDeleteRange"; value: unknown };
};

const results: Record<string, number> = { "=": 0, ">": 1, "<": 2, "!=": 3 };

/** Go's strconv.Unquote for a double-quoted or backquoted literal; undefined if malformed. */
export function goUnquote(s: string): string | undefined {
  if (s.length >= 2 && s[0] === "`" && s[s.length - 1] === "`") {
    const body = s.slice(1, -1);
    return body.includes("`") ? undefined : body.replaceAll("\r", "");
  }
  if (s.length < 2 || s[0] !== '"' || s[s.length - 1] !== '"') return undefined;
  const body = s.slice(1, -1);
  const bytes: number[] = [];
  const simple: Record<string, number> = {
    a: 7,
    b: 8,
    f: 12,
    n: 10,
    r: 13,
    t: 9,
    v: 11,
    "\\": 92,
    '"': 34,
    "'": 39,
  };
  for (let i = 0; i < body.length;) {
    const c = body[i];
    if (c === '"' || c === "\n") return undefined;
    if (c !== "\\") {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...utf8(ch));
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) return undefined;
    if (e in simple && e !== "'") {
      bytes.push(simple[e]);
      i += 2;
    } else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 2, i + 4))) {
      bytes.push(Number.parseInt(body.slice(i + 2, i + 4), 16));
      i += 4;
    } else if (/[0-7]/.test(e) && /^[0-7]{3}$/.test(body.slice(i + 1, i + 4))) {
      const v = Number.parseInt(body.slice(i + 1, i + 4), 8);
      if (v > 255) return undefined;
      bytes.push(v);
      i += 4;
    } else if (
      (e === "u" || e === "U") && new RegExp(`^[0-9a-fA-F]{${e === "u" ? 4 : 8}}$`).test(
        body.slice(i + 2, i + (e === "u" ? 6 : 10)),
      )
    ) {
      const n = e === "u" ? 4 : 8;
      const cp = Number.parseInt(body.slice(i + 2, i + 2 + n), 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return undefined;
      bytes.push(...utf8(String.fromCodePoint(cp)));
      i += 2 + n;
    } else return undefined;
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

// Go's Sscanf %q: skip spaces, then a "..." or `...` literal. Returns [value, rest] or undefined.
function scanQuoted(input: string): [string, string] | undefined {
  const s = input.replace(/^[ \t\r\n]+/, "");
  let end = -1;
  if (s[0] === "`") end = s.indexOf("`", 1);
  else if (s[0] === '"') {
    for (let i = 1; i < s.length; i++) {
      if (s[i] === "\\") i++;
      else if (s[i] === '"') {
        end = i;
        break;
      }
    }
  }
  if (end < 0) return undefined;
  const v = goUnquote(s.slice(0, end + 1));
  return v === undefined ? undefined : [v, s.slice(end + 1)];
}

/** etcdctl's parseCompare: `<target>("<key>") <op> "<value>"`. */
export function parseCompare(line: string): CompareInit {
  const paren = line.indexOf("(");
  if (paren < 0) fail(ExitCode.InvalidInput, `malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  // fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val)
  let key = "";
  let op = "";
  let val = "";
  let n = 0;
  let rest = line.slice(paren + 1);
  const k = scanQuoted(rest);
  if (k) {
    [key, rest] = k;
    n = 1;
    if (rest.startsWith(")")) {
      rest = rest.slice(1).replace(/^ +/, "");
      const m = /^(\S+)/.exec(rest);
      if (m) {
        op = m[1];
        n = 2;
        const v = scanQuoted(rest.slice(m[1].length).replace(/^ +/, ""));
        if (v) [val, n] = [v[0], 3];
      }
    }
  }
  if (n !== 3) {
    fail(
      ExitCode.InvalidInput,
      `malformed comparison: ${line}; got ${target}(${JSON.stringify(key)}) ${op} ${JSON.stringify(val)}`,
    );
  }
  const result = results[op];
  if (result === undefined) throw new CliError(2, "panic: Unknown result op", { raw: true }); // etcdctl panics
  const int = (base: number) => {
    const v = parseGoInt64(val, base);
    if (typeof v !== "bigint") fail(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
    return v;
  };
  const keyBytes = utf8(key);
  switch (target) {
    case "ver":
    case "version":
      return { result, target: 0, key: keyBytes, targetUnion: { case: "version", value: int(10) } };
    case "c":
    case "create":
      return { result, target: 1, key: keyBytes, targetUnion: { case: "createRevision", value: int(10) } };
    case "m":
    case "mod":
      return { result, target: 2, key: keyBytes, targetUnion: { case: "modRevision", value: int(10) } };
    case "val":
    case "value":
      return { result, target: 3, key: keyBytes, targetUnion: { case: "value", value: utf8(val) } };
    case "lease":
      // etcdctl 3.4 panics here; we do what 3.5 does: a hex lease ID compared on the key.
      return { result, target: 4, key: keyBytes, targetUnion: { case: "lease", value: int(16) } };
  }
  fail(ExitCode.InvalidInput, `malformed comparison: ${line} (unknown target ${target})`);
}

const argifyPattern = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g;

/** etcdctl's argify, including its single-quote bug (it slices by the number of args). */
export function argify(s: string): string[] {
  const args = s.match(argifyPattern) ?? [];
  return args.map((a) => {
    if (a[0] === "'") {
      const end = args.length - 1;
      if (end < 1 || end > a.length) {
        throw new CliError(2, `panic: runtime error: slice bounds out of range [1:${end}]`, { raw: true });
      }
      return a.slice(1, end);
    }
    if (a[0] === '"') {
      const v = scanQuoted(a);
      if (!v) fail(ExitCode.InvalidInput, "unexpected EOF");
      return v[0];
    }
    return a;
  });
}

const opRoot: Command = { use: "", short: "", subcommands: [putCommand, getCommand, delCommand] };

/** etcdctl's parseRequestUnion: one `put|get|del ...` line as a request op. */
export async function parseRequestOp(line: string, io?: RunContext["io"]): Promise<RequestOpInit> {
  const args = argify(line);
  if (args.length < 2) fail(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
  const found = findCommand(opRoot, args);
  const cmd = found.chain[found.chain.length - 1];
  const specs = [...found.local, ...found.inherited];
  const flags = defaults(specs);
  const parsed = parseFlags(found.args, specs, flags);
  if (found.error === undefined && found.chain.length >= 2 && !parsed.ok) {
    // cobra (errors silenced, usage not) prints its default usage for a bad flag
    io?.stderr.write(`Usage:\n   ${cmd.use} [flags]\n\nFlags:\n${pflagUsages(found.local)}\n\n`);
  }
  if (found.error !== undefined || found.chain.length < 2 || !parsed.ok || parsed.help) {
    fail(ExitCode.InvalidInput, `invalid txn request: ${line}`);
  }
  if (cmd === putCommand) {
    return { request: { case: "requestPut", value: await putRequest(parsed.args, flags, undefined) } };
  }
  if (cmd === getCommand) {
    return { request: { case: "requestRange", value: rangeRequest(parsed.args, flags) } };
  }
  return { request: { case: "requestDeleteRange", value: deleteRequest(parsed.args, flags) } };
}

// Reads and parses lines up to an empty one, each as soon as it is read (so an interactive
// user sees a bad line's error at once); EOF first is etcdctl's "Error: EOF" (exit 3).
async function readBlock<T>(r: LineReader, parse: (line: string) => T | Promise<T>): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const line = await r.next();
    if (line === undefined) fail(ExitCode.InvalidInput, "EOF");
    const t = line.trim();
    if (t === "") return items;
    items.push(await parse(t));
  }
}

async function txnRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 0) fail(ExitCode.BadArgs, "txn command does not accept argument");
  const interactive = ctx.flags.values.get("interactive") as boolean;
  const prompt = (s: string) => {
    if (interactive) ctx.io.stdout.write(`${s}\n`);
  };
  return await runRpc(ctx, async ({ stubs, printer, out }) => {
    const { kv } = await stubs();
    const reader = new LineReader(ctx.io.stdin);
    prompt("compares:");
    const compare = await readBlock(reader, parseCompare);
    prompt("success requests (get, put, del):");
    const success = await readBlock(reader, (l) => parseRequestOp(l, ctx.io));
    prompt("failure requests (get, put, del):");
    const failure = await readBlock(reader, (l) => parseRequestOp(l, ctx.io));
    // etcdctl sends the txn with context.Background(): no command timeout
    show(printer, "txn", out, await kv.txn({ compare, success, failure } as never));
  });
}

export const txnCommand: Command = {
  use: "txn [options]",
  short: "Txn processes all the requests in one transaction",
  flags: [{
    name: "interactive",
    short: "i",
    kind: "bool",
    def: false,
    usage: "Input transaction in interactive mode",
  }],
  run: txnRun,
};
