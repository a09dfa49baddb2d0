/**
 * `check perf` and `check datascale` (etcdctl's check.go). perf: a fixed-rate put workload
 * for 60 seconds, then etcdctl's pass/fail verdict on throughput, slowest request and
 * standard deviation. datascale: a fixed number of 1 KiB puts as fast as the clients go, and
 * the growth of the first endpoint's resident memory (its /metrics) over them. integrity
 * (etcdts's own, offline): every revision in a member's store against its checksum.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode, fail } from "./errors.ts";
import { clientSettings, newClient } from "./global.ts";
import { goQuote, utf8 } from "./gofmt.ts";
import { prefixRangeEnd } from "./kv.ts";
import { rpcErrorText } from "./rpc_error.ts";

/** etcdctl's workload models: puts per second, concurrent clients, seconds. */
export const perfModels: Record<string, { limit: number; clients: number; duration: number }> = {
  s: { limit: 150, clients: 50, duration: 60 },
  m: { limit: 1000, clients: 200, duration: 60 },
  l: { limit: 8000, clients: 500, duration: 60 },
  xl: { limit: 15000, clients: 1000, duration: 60 },
};

const aliases: Record<string, string> = {
  s: "s",
  small: "s",
  m: "m",
  medium: "m",
  l: "l",
  large: "l",
  xl: "xl",
  xLarge: "xl",
};

/** etcdctl's datascale models: keys to put and concurrent clients (each pair is 1 KiB). */
export const datascaleModels: Record<string, { limit: number; clients: number }> = {
  s: { limit: 10_000, clients: 50 },
  m: { limit: 100_000, clients: 200 },
  l: { limit: 1_000_000, clients: 500 },
  xl: { limit: 3_000_000, clients: 1000 },
};

/** What the workload measured: latencies in seconds, errors by message, wall time in seconds. */
export interface PerfStats {
  lats: number[];
  errors: Map<string, number>;
  totalSeconds: number;
}

/** etcdctl's verdict lines and whether the check passed. */
export function perfVerdict(s: PerfStats, limit: number): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  let ok = true;
  if (s.errors.size > 0) {
    lines.push("FAIL: too many errors");
    for (const [k, v] of s.errors) lines.push(`FAIL: ERROR(${k}) -> ${v}`);
    ok = false;
  }
  const rps = s.totalSeconds > 0 ? s.lats.length / s.totalSeconds : 0;
  if (rps / limit <= 0.9) {
    lines.push(`FAIL: Throughput too low: ${Math.trunc(rps) + 1} writes/s`);
    ok = false;
  } else lines.push(`PASS: Throughput is ${Math.trunc(rps) + 1} writes/s`);
  const slowest = s.lats.length > 0 ? Math.max(...s.lats) : 0;
  if (slowest > 0.5) {
    lines.push(`Slowest request took too long: ${slowest.toFixed(6)}s`);
    ok = false;
  } else lines.push(`PASS: Slowest request took ${slowest.toFixed(6)}s`);
  const avg = s.lats.reduce((a, b) => a + b, 0) / (s.lats.length || 1);
  const stddev = Math.sqrt(s.lats.reduce((a, b) => a + (b - avg) ** 2, 0) / (s.lats.length || 1));
  if (stddev > 0.1) {
    lines.push(`Stddev too high: ${stddev.toFixed(6)}s`);
    ok = false;
  } else lines.push(`PASS: Stddev is ${stddev.toFixed(6)}s`);
  lines.push(ok ? "PASS" : "FAIL");
  return { lines, ok };
}

type Check = "perf" | "datascale";

async function perfRun(ctx: RunContext): Promise<number> {
  return runCheck(ctx, "perf");
}

async function datascaleRun(ctx: RunContext): Promise<number> {
  return runCheck(ctx, "datascale");
}

async function runCheck(ctx: RunContext, check: Check): Promise<number> {
  const load = ctx.flags.values.get("load") as string;
  const prefix = ctx.flags.values.get("prefix") as string;
  const modelName = aliases[load];
  if (modelName === undefined) fail(ExitCode.BadFeature, `unknown load option ${load}`);
  const model = check === "perf"
    ? { ...perfModels[modelName] }
    : { ...datascaleModels[modelName], duration: 0 };
  // Not etcdctl knobs: let tests exercise the workloads without waiting a minute.
  const override = Number(ctx.io.env.ETCDTS_CHECK_PERF_SECONDS);
  if (check === "perf" && override > 0) model.duration = override;
  const keys = Number(ctx.io.env.ETCDTS_CHECK_DATASCALE_KEYS);
  if (check === "datascale" && keys > 0) model.limit = keys;

  const { settings } = await clientSettings(ctx);
  const { KV } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const clients = await Promise.all(Array.from({ length: model.clients }, () => newClient(settings)));
  const kvs = clients.map((c) => c.service(KV));
  const pfx = utf8(prefix);
  const out = (s: string) => ctx.io.stdout.write(s);
  try {
    const first = await kvs[0].range({ key: pfx, rangeEnd: prefixRangeEnd(pfx), limit: 1n }, {
      timeoutMs: Math.max(model.duration, 5) * 1000,
    }).catch((e) => fail(ExitCode.Error, rpcErrorText(e)));
    if (first.kvs.length > 0) {
      fail(
        ExitCode.InvalidInput,
        `prefix ${goQuote(prefix)} has keys. Delete with etcdctl del --prefix ${prefix} first`,
      );
    }
    let verdict: { lines: string[]; ok: boolean };
    if (check === "perf") {
      const stats = await perfWorkload(kvs, pfx, model, out);
      await cleanUp(ctx, kvs[0], pfx, settings, out);
      verdict = perfVerdict(stats, model.limit);
    } else {
      const metricsUrl = metricsUrlOf(settings.endpoints[0]);
      const before = await residentBytes(metricsUrl, out);
      if (before === 0) {
        out("FAIL: Could not read process_resident_memory_bytes before the put operations.\n");
        return ExitCode.Error;
      }
      out(
        `Start data scale check for work load [${model.limit} key-value pairs, 1024 bytes per key-value, ${model.clients} concurrent clients].\n`,
      );
      const errors = await datascaleWorkload(kvs, pfx, model.limit, out);
      const after = await residentBytes(metricsUrl, out);
      if (after === 0) {
        out("FAIL: Could not read process_resident_memory_bytes after the put operations.\n");
        return ExitCode.Error;
      }
      await cleanUp(ctx, kvs[0], pfx, settings, out);
      verdict = datascaleVerdict(errors, after - before);
    }
    out(verdict.lines.join("\n") + "\n");
    return verdict.ok ? ExitCode.Success : ExitCode.Error;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(ExitCode.Error, rpcErrorText(e));
  } finally {
    for (const c of clients) c.close();
  }
}

/** etcdctl's datascale verdict: any error fails; else the memory the puts took, in MB. */
export function datascaleVerdict(
  errors: Map<string, number>,
  bytesUsed: number,
): { lines: string[]; ok: boolean } {
  if (errors.size > 0) {
    return {
      lines: ["FAIL: too many errors", ...[...errors].map(([k, v]) => `FAIL: ERROR(${k}) -> ${v}`)],
      ok: false,
    };
  }
  const mb = bytesUsed / (1024 * 1024);
  return { lines: [`PASS: Approximate system memory used : ${mb.toFixed(2)} MB.`], ok: true };
}

// What both checks do after their workload: delete the keys, then compact and defragment if asked.
async function cleanUp(
  ctx: RunContext,
  kv: KvStub,
  pfx: Uint8Array,
  settings: Awaited<ReturnType<typeof clientSettings>>["settings"],
  out: (s: string) => void,
): Promise<void> {
  const del = await kv.deleteRange({ key: pfx, rangeEnd: prefixRangeEnd(pfx) }, { timeoutMs: 30_000 })
    .catch((e) => fail(ExitCode.Error, rpcErrorText(e)));
  if (ctx.flags.values.get("auto-compact") as boolean) {
    const rev = del.header?.revision ?? 0n;
    out(`Compacting with revision ${rev}\n`);
    await kv.compact({ revision: rev, physical: true }, { timeoutMs: 30_000 })
      .catch((e) => fail(ExitCode.Error, rpcErrorText(e)));
    out(`Compacted with revision ${rev}\n`);
  }
  if (ctx.flags.values.get("auto-defrag") as boolean) {
    const { Maintenance } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
    for (const ep of settings.endpoints) {
      out(`Defragmenting ${goQuote(ep)}\n`);
      const one = await newClient({ ...settings, endpoints: [ep] });
      await one.service(Maintenance).defragment({}, { timeoutMs: 30_000 })
        .catch((e) => fail(ExitCode.Error, rpcErrorText(e)))
        .finally(() => one.close());
      out(`Defragmented ${goQuote(ep)}\n`);
    }
  }
}

/** Where etcdctl reads an endpoint's metrics: plain http unless the endpoint says https. */
function metricsUrlOf(endpoint: string): string {
  const base = /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
  return `${base.replace(/\/+$/, "")}/metrics`;
}

/** process_resident_memory_bytes from `url`, 0 (after etcdctl's message) when unavailable. */
async function residentBytes(url: string, out: (s: string) => void): Promise<number> {
  const key = "process_resident_memory_bytes";
  let text: string;
  try {
    text = await (await fetch(url, { tls: { rejectUnauthorized: false } } as RequestInit)).text();
  } catch (e) {
    out(`fetch error: ${(e as Error).message}\n`);
    return 0;
  }
  const line = text.split("\n").find((l) => l.startsWith(key));
  if (line === undefined) {
    out(`could not find: ${key}\n`);
    return 0;
  }
  return Number(line.slice(key.length).trim()) || 0;
}

type KvStub = {
  put(req: { key: Uint8Array; value: Uint8Array }): Promise<unknown>;
  deleteRange(
    req: { key: Uint8Array; rangeEnd: Uint8Array },
    opts: { timeoutMs: number },
  ): Promise<{ header?: { revision: bigint } }>;
  compact(req: { revision: bigint; physical: boolean }, opts: { timeoutMs: number }): Promise<unknown>;
};

// `limit` puts of a random 512-byte key and a 512-byte value, one in flight per client.
async function datascaleWorkload(
  kvs: KvStub[],
  pfx: Uint8Array,
  limit: number,
  out: (s: string) => void,
): Promise<Map<string, number>> {
  const value = new Uint8Array(512);
  const errors = new Map<string, number>();
  let done = 0;
  let next = 0;
  const bar = progressBar(limit, out, () => done);
  await Promise.all(kvs.map(async (kv) => {
    while (next < limit) {
      next++;
      await kv.put({ key: randomKey(pfx, 512), value }).catch((e) => {
        const text = rpcErrorText(e);
        errors.set(text, (errors.get(text) ?? 0) + 1);
      });
      done++;
    }
  }));
  bar.finish();
  return errors;
}

// The prefix and then a Go zig-zag varint of a random int63 at the start of `size` bytes.
function randomKey(pfx: Uint8Array, size: number): Uint8Array {
  const key = new Uint8Array(pfx.length + size);
  key.set(pfx);
  putVarint(key.subarray(pfx.length), BigInt(Math.floor(Math.random() * Number.MAX_SAFE_INTEGER)));
  return key;
}

// Puts at `limit` per second for `duration` seconds, at most one in flight per client.
async function perfWorkload(
  kvs: KvStub[],
  pfx: Uint8Array,
  model: { limit: number; clients: number; duration: number },
  out: (s: string) => void,
): Promise<PerfStats> {
  const value = new Uint8Array(1024);
  const stats: PerfStats = { lats: [], errors: new Map(), totalSeconds: 0 };
  const idle = [...kvs];
  const waiting: (() => void)[] = [];
  const started = performance.now();
  const end = started + model.duration * 1000;
  const inflight = new Set<Promise<void>>();
  let elapsed = 0;
  const bar = progressBar(model.duration, out, () => elapsed = Math.min(elapsed + 1, model.duration));
  for (let n = 0; performance.now() < end; n++) {
    const due = started + (n * 1000) / model.limit;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (performance.now() >= end) break;
    if (idle.length === 0) await new Promise<void>((r) => waiting.push(r));
    const kv = idle.pop()!;
    const key = randomKey(pfx, 256);
    const st = performance.now();
    const p = kv.put({ key, value }).then(
      () => void stats.lats.push((performance.now() - st) / 1000),
      (e) => void stats.errors.set(rpcErrorText(e), (stats.errors.get(rpcErrorText(e)) ?? 0) + 1),
    ).finally(() => {
      inflight.delete(p);
      idle.push(kv);
      waiting.shift()?.();
    });
    inflight.add(p);
  }
  await Promise.all(inflight);
  stats.totalSeconds = (performance.now() - started) / 1000;
  bar.finish();
  return stats;
}

// Go's binary.PutVarint (zig-zag) into the start of buf.
function putVarint(buf: Uint8Array, v: bigint): void {
  let ux = (v << 1n) ^ (v >> 63n);
  let i = 0;
  while (ux >= 0x80n) {
    buf[i++] = Number(ux & 0x7fn) | 0x80;
    ux >>= 7n;
  }
  buf[i] = Number(ux);
}

// A once-a-second progress line in the spirit of cheggaaa/pb's "Bom !" bar; `progress` says
// how far along the work is each time it is drawn.
function progressBar(total: number, out: (s: string) => void, progress: () => number): { finish(): void } {
  let done = 0;
  const draw = () => {
    const width = 40;
    const filled = Math.round((done / total) * width);
    out(
      `\r ${done} / ${total} B${"o".repeat(filled)}${" ".repeat(width - filled)}! ${
        (done / total * 100).toFixed(2)
      }%`,
    );
  };
  draw();
  const timer = setInterval(() => {
    done = progress();
    draw();
  }, 1000);
  return {
    finish() {
      clearInterval(timer);
      done = total;
      draw();
      out("\n");
    },
  };
}

// `check integrity --data-dir`: the damaged revisions on stdout, a failure if any.
async function integrityRun(ctx: RunContext): Promise<number> {
  const dataDir = ctx.flags.values.get("data-dir") as string;
  if (dataDir === "") fail(ExitCode.BadArgs, "check integrity requires --data-dir");
  const path = await import("node:path");
  const fs = await import("node:fs");
  const file = path.join(dataDir, "member", "snap", "db");
  if (!fs.existsSync(file)) fail(ExitCode.Error, `no store at ${file}`);
  const { checkStoreFile } = await import("../store/integrity.ts");
  const found = checkStoreFile(file);
  if (typeof found === "string") fail(ExitCode.Error, `${file}: ${found}`);
  const out = (s: string) => ctx.io.stdout.write(s);
  for (const m of found.damaged) out(`${m.message}\n`);
  const unlisted = found.damagedCount - found.damaged.length;
  if (unlisted > 0) out(`... and ${unlisted} more\n`);
  if (found.unverified > 0) {
    out(
      `${found.unverified} revisions have no checksum (written by an older version; the server adds them when it opens the store)\n`,
    );
  }
  if (found.damagedCount > 0) {
    fail(
      ExitCode.Error,
      `${found.damagedCount} of ${found.revisions} revisions do not match their checksums`,
    );
  }
  out(`checked ${found.revisions} revisions: all match their checksums\n`);
  return ExitCode.Success;
}

// Both checks' flags for what follows the workload.
const cleanUpFlags: NonNullable<Command["flags"]> = [
  {
    name: "auto-compact",
    kind: "bool",
    def: false,
    usage: "Compact storage with last revision after test is finished.",
  },
  { name: "auto-defrag", kind: "bool", def: false, usage: "Defragment storage after test is finished." },
];

export const checkCommand: Command = {
  use: "check <subcommand>",
  short: "commands for checking properties of the etcd cluster",
  subcommands: [{
    use: "perf [options]",
    short: "Check the performance of the etcd cluster",
    flags: [
      {
        name: "load",
        kind: "string",
        def: "s",
        usage:
          "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)",
      },
      {
        name: "prefix",
        kind: "string",
        def: "/etcdctl-check-perf/",
        usage: "The prefix for writing the performance check's keys.",
      },
      ...cleanUpFlags,
    ],
    run: perfRun,
  }, {
    use: "datascale [options]",
    short: "Check the memory usage of holding data for different workloads on a given server endpoint.",
    long:
      "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.",
    flags: [
      {
        name: "load",
        kind: "string",
        def: "s",
        usage:
          "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)",
      },
      {
        name: "prefix",
        kind: "string",
        def: "/etcdctl-check-datascale/",
        usage: "The prefix for writing the datascale check's keys.",
      },
      ...cleanUpFlags,
    ],
    run: datascaleRun,
  }, {
    use: "integrity [options]",
    face: "etcdts", // not etcdctl's: its help stays etcdctl's
    short: "Check that every revision in a member's store matches its checksum (offline)",
    long:
      "An etcdts extension, offline: reads the store in --data-dir directly (no server needed), prints each revision that does not match its checksum and exits 1 if any does.",
    flags: [{ name: "data-dir", kind: "string", def: "", usage: "Path to the member's data directory" }],
    run: integrityRun,
  }],
};
