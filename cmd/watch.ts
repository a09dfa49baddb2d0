/**
 * `watch` (etcdctl's watch_command.go): print the events of a key or range as they happen,
 * optionally from a past revision, run a command per event (`watch key -- cmd args`), or
 * take `watch ...` / `progress` lines from stdin (`-i`). Output is etcdctl 3.4's in every
 * format, including what its client library makes of the stream (created answers are not
 * shown, progress answers are shown to every watcher, a refused watch prints an empty header).
 */
import type { Client } from "../client/client.ts";
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { relayCommand } from "./exec.ts";
import { defaults, type FlagSpec, parseFlags } from "../lib/pflag.ts";
import { clientSettings, flagValue, newClient } from "./global.ts";
import { goQuote, hexEscaped, utf8 } from "./gofmt.ts";
import { LineReader } from "./io.ts";
import { Chunks } from "./print/printer.ts";
import { argify } from "./txn.ts";
import { AsyncQueue } from "../lib/async_queue.ts";
import type { ResponseHeader } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Event, KeyValue } from "../proto/gen/mvccpb/kv_pb.ts";
import { prefixEnd } from "../api/keys.ts";

const watchFlags: FlagSpec[] = [
  { name: "interactive", short: "i", kind: "bool", def: false, usage: "Interactive mode" },
  { name: "prefix", kind: "bool", def: false, usage: "Watch on a prefix if prefix is set" },
  { name: "rev", kind: "int64", def: 0n, usage: "Revision to start watching" },
  {
    name: "prev-kv",
    kind: "bool",
    def: false,
    usage: "get the previous key-value pair before the event happens",
  },
  // etcdctl 3.5's flag, accepted but unlisted so help stays identical to 3.4's.
  {
    name: "progress-notify",
    kind: "bool",
    def: false,
    usage: "get periodic watch progress notification from server",
    hidden: true,
  },
];

/** The watch command. */
export const watchCommand: Command = {
  use: "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
  short: "Watches events stream on keys or prefixes",
  flags: watchFlags,
  run: runWatch,
};

const errBadArgsNum = "bad number of arguments";
const errConflictEnv = "bad number of arguments (found conflicting environment key)";
const errSeparator = "bad number of arguments (found separator --, but no commands)";

/** A watch as the user asked for it. */
export interface WatchSpec {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  startRevision: bigint;
  prevKv: boolean;
  progressNotify: boolean;
}

/** What etcdctl's client hands the printer for one response (clientv3.WatchResponse). */
export interface ClientWatchResponse {
  header: ResponseHeader | undefined;
  /** null when the watch was refused at creation (the client then reports only the error). */
  events: Event[] | null;
  compactRevision: bigint;
  canceled: boolean;
  created: boolean;
  /** Why the watch ended, as clientv3's WatchResponse.Err() words it; "" while it runs. */
  error: string;
}

interface WatchOpts {
  prefix: boolean;
  rev: bigint;
  prevKv: boolean;
  progressNotify: boolean;
}

async function runWatch(ctx: RunContext, args: string[]): Promise<number> {
  const envKey = ctx.io.env.ETCDCTL_WATCH_KEY ?? "";
  const envRange = ctx.io.env.ETCDCTL_WATCH_RANGE_END ?? "";
  if (envKey === "" && envRange !== "") {
    throw new CliError(
      ExitCode.BadArgs,
      `ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${goQuote(envRange)}`,
    );
  }
  const opts: WatchOpts = {
    prefix: flagValue<boolean>(ctx, "prefix"),
    rev: flagValue<bigint>(ctx, "rev"),
    prevKv: flagValue<boolean>(ctx, "prev-kv"),
    progressNotify: flagValue<boolean>(ctx, "progress-notify"),
  };
  if (flagValue<boolean>(ctx, "interactive")) return await interactive(ctx, { envKey, envRange });
  // Like etcdctl, the `--` separator is found in the process's own arguments (flag parsing drops it).
  const parsed = parseWatchArgs(process.argv, args, { envKey, envRange });
  if (typeof parsed === "string") throw new CliError(ExitCode.BadArgs, parsed);
  const { settings } = await clientSettings(ctx);
  const render = renderer(ctx);
  const client = await newClient(settings);
  try {
    const spec = watchSpec(parsed.watchArgs, opts);
    if (typeof spec === "string") throw new CliError(ExitCode.BadArgs, spec);
    const mux = new WatchMux(client);
    try {
      await printResponses(ctx, mux.watch(spec), { render, execArgs: parsed.execArgs });
    } finally {
      mux.close();
    }
  } finally {
    client.close();
  }
  throw new CliError(ExitCode.Interrupted, "watch is canceled by the server");
}

async function interactive(ctx: RunContext, env: { envKey: string; envRange: string }): Promise<number> {
  const { settings } = await clientSettings(ctx);
  const render = renderer(ctx);
  const client = await newClient(settings);
  const mux = new WatchMux(client);
  const lines = new LineReader(ctx.io.stdin);
  const err = (s: string) => ctx.io.stderr.write(s);
  try {
    for (;;) {
      const l = await lines.next();
      if (l === undefined) {
        throw new CliError(ExitCode.InvalidInput, "Error reading watch request line: EOF");
      }
      const args = argify(l);
      if (args.length < 1) {
        err(`Invalid command: ${l} (watch and progress supported)\n`);
        continue;
      }
      if (args[0] === "progress") {
        await mux.requestProgress();
        continue;
      }
      if (args[0] !== "watch") {
        err(`Invalid command ${l} (only support watch)\n`);
        continue;
      }
      if (args.length < 2 && env.envKey === "") {
        err(`Invalid command ${l} (command type or key is not provided)\n`);
        continue;
      }
      const parsed = parseInteractiveLine(args.slice(1), env);
      if (typeof parsed === "string") throw new CliError(ExitCode.BadArgs, parsed);
      const spec = watchSpec(parsed.watchArgs, parsed.opts);
      if (typeof spec === "string") {
        err(`Invalid command ${l} (${spec})\n`);
        continue;
      }
      printResponses(ctx, mux.watch(spec), { render, execArgs: parsed.execArgs }).catch((e) => {
        if (!(e instanceof CliError)) throw e;
        ctx.io.stderr.write(e.raw ? `${e.message}\n` : `Error: ${e.message}\n`);
        process.exit(e.exitCode);
      });
    }
  } finally {
    mux.close();
    client.close();
  }
}

/** etcdctl's parseWatchArgs for a command line: the watch's args and the command to exec. */
function parseWatchArgs(
  osArgs: readonly string[],
  commandArgs: readonly string[],
  env: { envKey: string; envRange: string },
): { watchArgs: string[]; execArgs: string[] } | string {
  let rawArgs = [...osArgs];
  const w = rawArgs.indexOf("watch");
  if (w >= 0) rawArgs = rawArgs.slice(w + 1);
  let watchArgs = [...commandArgs];
  const execIdx = rawArgs.indexOf("--");
  const execExist = execIdx >= 0;
  if (execExist && execIdx === rawArgs.length - 1) return errSeparator;
  if (!execExist && rawArgs.length < 1 && env.envKey === "") return errBadArgsNum;
  if (execExist && env.envKey !== "") {
    // etcdctl's check that no watch argument precedes `--` when the key comes from the environment
    let ridx = rawArgs.length - 1;
    for (let widx = watchArgs.length - 1; widx >= 0; widx--) {
      if (watchArgs[widx] === rawArgs[ridx]) {
        ridx--;
        continue;
      }
      if (ridx === execIdx) return errConflictEnv;
    }
  }
  if (!execExist && watchArgs.length > 0 && env.envKey !== "") return errConflictEnv;
  const execArgs = execExist ? rawArgs.slice(execIdx + 1) : [];
  if (env.envKey !== "") watchArgs = [env.envKey, ...(env.envRange ? [env.envRange] : []), ...watchArgs];
  if (!execExist) return { watchArgs, execArgs };
  return { watchArgs: dropExecArgs(watchArgs, rawArgs[execIdx + 1]), execArgs };
}

/** etcdctl's parseWatchArgs for an interactive `watch ...` line (its flags are per line). */
function parseInteractiveLine(
  lineArgs: string[],
  env: { envKey: string; envRange: string },
): { watchArgs: string[]; execArgs: string[]; opts: WatchOpts } | string {
  const execIdx = lineArgs.indexOf("--");
  const execExist = execIdx >= 0;
  if (execExist && execIdx === lineArgs.length - 1) return errSeparator;
  const flags = defaults(watchFlags);
  const parsed = parseFlags(lineArgs, watchFlags, flags);
  if (!parsed.ok) return parsed.error;
  if (!execExist && env.envKey === "" && parsed.args.length < 1) return errBadArgsNum;
  if (!execExist && parsed.args.length > 0 && env.envKey !== "") return errConflictEnv;
  const execArgs = execExist ? lineArgs.slice(execIdx + 1) : [];
  let watchArgs = parsed.args;
  if (env.envKey !== "") watchArgs = [env.envKey, ...(env.envRange ? [env.envRange] : []), ...watchArgs];
  const opts = {
    prefix: flags.values.get("prefix") as boolean,
    rev: flags.values.get("rev") as bigint,
    prevKv: flags.values.get("prev-kv") as boolean,
    progressNotify: flags.values.get("progress-notify") as boolean,
  };
  if (!execExist) return { watchArgs, execArgs, opts };
  return { watchArgs: dropExecArgs(watchArgs, lineArgs[execIdx + 1]), execArgs, opts };
}

// The positional args end where the exec command's first word appears (searched from the end, as etcdctl does).
function dropExecArgs(watchArgs: string[], firstExecWord: string): string[] {
  let end = watchArgs.length - 1;
  while (end >= 0 && watchArgs[end] !== firstExecWord) end--;
  return watchArgs.slice(0, Math.max(end, 0));
}

/** etcdctl's getWatchChan: key, range and options into a watch (or its error text). */
function watchSpec(args: string[], opts: WatchOpts): WatchSpec | string {
  if (args.length < 1) return errBadArgsNum;
  let key: Uint8Array = utf8(args[0]);
  let rangeEnd: Uint8Array = new Uint8Array();
  if (args.length === 2) {
    if (opts.prefix) return "`range_end` and `--prefix` are mutually exclusive";
    rangeEnd = utf8(args[1]);
  }
  if (opts.prefix) {
    if (key.length === 0) {
      key = new Uint8Array([0]);
      rangeEnd = new Uint8Array([0]);
    } else rangeEnd = prefixEnd(key);
  }
  return { key, rangeEnd, startRevision: opts.rev, prevKv: opts.prevKv, progressNotify: opts.progressNotify };
}

type Render = (r: ClientWatchResponse) => string | Uint8Array;

/** etcdctl's printWatchCh: report cancellation and progress, print, then run the command per event. */
async function printResponses(
  ctx: RunContext,
  responses: AsyncIterable<ClientWatchResponse>,
  opts: { render: Render; execArgs: string[] },
): Promise<void> {
  for await (const r of responses) {
    if (r.canceled) ctx.io.stderr.write(`watch was canceled (${r.error})\n`);
    if (isProgressNotify(r)) ctx.io.stdout.write(`progress notify: ${r.header?.revision ?? 0n}\n`);
    ctx.io.stdout.write(opts.render(r));
    if (opts.execArgs.length > 0) {
      for (const ev of r.events ?? []) await execFor(ctx, opts.execArgs, { r, ev });
    }
  }
}

function isProgressNotify(r: ClientWatchResponse): boolean {
  return (r.events?.length ?? 0) === 0 && !r.canceled && !r.created && r.compactRevision === 0n &&
    (r.header?.revision ?? 0n) !== 0n;
}

async function execFor(
  ctx: RunContext,
  argv: string[],
  at: { r: ClientWatchResponse; ev: Event },
): Promise<void> {
  const failed = (why: string) =>
    new CliError(ExitCode.Error, `command [${argv.map((a) => goQuote(a)).join(" ")}] error (${why})`, {
      raw: true,
    });
  const exit = await relayCommand(ctx, argv, {
    ETCD_WATCH_REVISION: String(at.r.header?.revision ?? 0n),
    ETCD_WATCH_EVENT_TYPE: goQuote(eventType(at.ev)),
    ETCD_WATCH_KEY: goQuote(at.ev.kv?.key ?? new Uint8Array()),
    ETCD_WATCH_VALUE: goQuote(at.ev.kv?.value ?? new Uint8Array()),
  }, "ignore");
  if (exit === null) throw failed(`exec: ${goQuote(argv[0])}: executable file not found in $PATH`);
  if (exit.code !== 0) {
    throw failed(exit.signalCode ? `signal: ${signalName(exit.signalCode)}` : `exit status ${exit.code}`);
  }
}

function signalName(sig: string): string {
  const names: Record<string, string> = { SIGKILL: "killed", SIGTERM: "terminated", SIGINT: "interrupt" };
  return names[sig] ?? sig;
}

function eventType(ev: Event): string {
  return ev.type === 1 ? "DELETE" : "PUT";
}

/** The printer for -w/--hex: etcdctl's Watch method of each format (table has none). */
function renderer(ctx: RunContext): Render {
  const hex = flagValue<boolean>(ctx, "hex");
  switch (flagValue<string>(ctx, "write-out")) {
    case "simple":
      return (r) => simple(r, hex);
    case "json":
      return json;
    case "fields":
      return fields;
    case "protobuf":
      return protobuf;
    case "table":
      return () => {
        throw new CliError(ExitCode.BadFeature, "table not supported as output format");
      };
  }
  throw new CliError(ExitCode.BadFeature, "unsupported output format");
}

function simple(r: ClientWatchResponse, hex: boolean): string | Uint8Array {
  const c = new Chunks();
  const kv = (x: KeyValue) => {
    if (hex) c.text(`${hexEscaped(x.key)}\n${hexEscaped(x.value)}\n`);
    else c.bytes(x.key).text("\n").bytes(x.value).text("\n");
  };
  for (const ev of r.events ?? []) {
    c.text(eventType(ev) + "\n");
    if (ev.prevKv) kv(ev.prevKv);
    if (ev.kv) kv(ev.kv);
  }
  return collect(c);
}

function collect(c: Chunks): string | Uint8Array {
  let out: string | Uint8Array = "";
  c.writeTo({ write: (x) => (out = x) });
  return out;
}

function fields(r: ClientWatchResponse): string {
  const h = r.header;
  let s = `"ClusterID" : ${h?.clusterId ?? 0n}\n"MemberID" : ${h?.memberId ?? 0n}\n` +
    `"Revision" : ${h?.revision ?? 0n}\n"RaftTerm" : ${h?.raftTerm ?? 0n}\n`;
  const kv = (pfx: string, x: KeyValue) =>
    `"${pfx}Key" : ${goQuote(x.key)}\n"${pfx}CreateRevision" : ${x.createRevision}\n` +
    `"${pfx}ModRevision" : ${x.modRevision}\n"${pfx}Version" : ${x.version}\n` +
    `"${pfx}Value" : ${goQuote(x.value)}\n"${pfx}Lease" : ${x.lease}\n`;
  for (const ev of r.events ?? []) {
    s += `"Type" : ${eventType(ev)}\n`;
    if (ev.prevKv) s += kv("Prev", ev.prevKv);
    if (ev.kv) s += kv("", ev.kv);
  }
  return s;
}

// The printers below need the generated code; the command loads it before any response arrives.
let pb: typeof import("../proto/gen/etcdserverpb/rpc_pb.ts") | undefined;
let jsonLib: typeof import("./print/json.ts") | undefined;
let protobufLib: typeof import("@bufbuild/protobuf") | undefined;

async function loadPrinters(): Promise<void> {
  pb ??= await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  jsonLib ??= await import("./print/json.ts");
  protobufLib ??= await import("@bufbuild/protobuf");
}

function json(r: ClientWatchResponse): string {
  const { goJson } = jsonLib!;
  const header = r.header ? goJson(r.header) : "{}";
  const events = r.events === null ? "null" : `[${r.events.map((e) => goJson(e)).join(",")}]`;
  return `{"Header":${header},"Events":${events},"CompactRevision":${r.compactRevision},"Canceled":${r.canceled},"Created":${r.created}}\n`;
}

function protobuf(r: ClientWatchResponse): Uint8Array {
  const { create, toBinary } = protobufLib!;
  const m = create(pb!.WatchResponseSchema, {
    header: r.header ?? create(pb!.ResponseHeaderSchema),
    events: r.events ?? [],
    compactRevision: r.compactRevision,
    canceled: r.canceled,
    created: r.created,
  });
  return toBinary(pb!.WatchResponseSchema, m);
}

const COMPACTED = "etcdserver: mvcc: required revision has been compacted";

interface Substream {
  spec: WatchSpec;
  out: AsyncQueue<ClientWatchResponse>;
  /** Where a resumed watch starts: after the last revision this watch saw. */
  nextRev: bigint;
  id: bigint | null;
}

/**
 * Many watches on one Watch stream, as clientv3 multiplexes them: creates are answered in
 * order, responses are routed by watch id, progress answers go to every watch, and a
 * broken stream is reopened with each watch resumed after the last revision it saw.
 */
export class WatchMux {
  readonly #client: Client;
  #stream: ReturnType<typeof openStream> | null = null;
  readonly #byId = new Map<bigint, Substream>();
  /** Watches whose create was sent and not yet answered, in sending order. */
  #creating: Substream[] = [];
  readonly #all = new Set<Substream>();
  #closed = false;
  #ready: Promise<void>;

  constructor(client: Client) {
    this.#client = client;
    this.#ready = loadPrinters().then(() => this.#open());
  }

  /** Starts a watch; its responses end when the server cancels it. */
  watch(spec: WatchSpec): AsyncIterable<ClientWatchResponse> {
    const sub: Substream = { spec, out: new AsyncQueue(), nextRev: spec.startRevision, id: null };
    this.#all.add(sub);
    this.#ready = this.#ready.then(() => this.#sendCreate(sub));
    return sub.out;
  }

  /** Asks the server for a progress answer (delivered to every watch). */
  async requestProgress(): Promise<void> {
    await this.#ready;
    await this.#stream?.send({ requestUnion: { case: "progressRequest", value: {} } }).catch(() => {});
  }

  close(): void {
    this.#closed = true;
    this.#stream?.cancel();
    for (const s of this.#all) s.out.end();
  }

  async #sendCreate(sub: Substream): Promise<void> {
    if (this.#stream === null) return;
    this.#creating.push(sub);
    const s = sub.spec;
    await this.#stream.send({
      requestUnion: {
        case: "createRequest",
        value: {
          key: s.key,
          rangeEnd: s.rangeEnd,
          startRevision: sub.nextRev,
          prevKv: s.prevKv,
          progressNotify: s.progressNotify,
        },
      },
    }).catch(() => {}); // a broken stream shows up on read and is reopened
  }

  #open(): void {
    const stream = openStream(this.#client);
    this.#stream = stream;
    (async () => {
      try {
        for await (const r of stream) this.#route(r);
      } catch {
        // reopened below
      }
      if (this.#closed || this.#stream !== stream) return;
      await new Promise((r) => setTimeout(r, 500));
      this.#reopen();
    })();
  }

  #reopen(): void {
    if (this.#closed) return;
    const live = [...this.#all];
    this.#byId.clear();
    this.#creating = [];
    this.#open();
    for (const sub of live) this.#ready = this.#ready.then(() => this.#sendCreate(sub));
  }

  #route(r: import("../proto/gen/etcdserverpb/rpc_pb.ts").WatchResponse): void {
    if (r.created) {
      const sub = this.#creating.shift();
      if (sub === undefined) return;
      if (r.watchId === -1n || (r.canceled && r.cancelReason !== "")) {
        // clientv3 closes the watch with the reason and an otherwise empty response
        this.#finish(sub, {
          header: undefined,
          events: null,
          compactRevision: 0n,
          canceled: true,
          created: false,
          error: r.cancelReason,
        });
        return;
      }
      sub.id = r.watchId;
      this.#byId.set(r.watchId, sub);
      return;
    }
    const resp: ClientWatchResponse = {
      header: r.header,
      events: r.events,
      compactRevision: r.compactRevision,
      canceled: r.canceled,
      created: false,
      error: r.compactRevision !== 0n ? COMPACTED : r.cancelReason,
    };
    if (r.watchId === -1n && isProgressNotify(resp)) {
      for (const sub of this.#byId.values()) this.#deliver(sub, resp);
      return;
    }
    const sub = this.#byId.get(r.watchId);
    if (sub === undefined) return;
    if (r.canceled) {
      this.#byId.delete(r.watchId);
      if (r.compactRevision !== 0n) this.#finish(sub, resp);
      else this.#finish(sub, null);
      return;
    }
    this.#deliver(sub, resp);
  }

  #deliver(sub: Substream, resp: ClientWatchResponse): void {
    const evs = resp.events ?? [];
    if (evs.length > 0) sub.nextRev = evs[evs.length - 1].kv!.modRevision + 1n;
    else if (resp.header) sub.nextRev = resp.header.revision + 1n;
    sub.out.push(resp);
  }

  #finish(sub: Substream, last: ClientWatchResponse | null): void {
    if (last !== null) sub.out.push(last);
    sub.out.end();
    this.#all.delete(sub);
  }
}

function openStream(client: Client) {
  return client.service(pb!.Watch).watch();
}
