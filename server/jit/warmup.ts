/**
 * JIT warm-up. JavaScriptCore runs a function in its interpreter and baseline tiers until
 * it has run about a thousand times, and only then in optimized code, so a fresh server
 * answered its first few thousand requests slower: put → watch event p99 3.4–3.8 ms over
 * the first 1000 puts against 1.0–1.2 ms once warm. Compiled code belongs to the
 * function, not to the object it runs for, so running the request path against a
 * throwaway member warms it for the real one: gRPC over loopback HTTP/2 as grpc-go speaks
 * it (go_wire.ts), puts through raft and the log into the store, the watch fan-out, ranges.
 *
 * The throwaway members are two whole single-member servers in a temporary directory, on
 * loopback ports of their own, deleted afterwards: the real member's data and clients
 * never see them. serve.ts runs the warm-up before the real member starts, so no client
 * ever waits on it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  PutRequestSchema,
  PutResponseSchema,
  RangeRequestSchema,
  WatchRequestSchema,
  WatchResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { parseServerArgs, type ServerConfig } from "../config.ts";
import { GoShapedConnection } from "./go_wire.ts";

/** What the warm-up needs of a server: start one from a config, and stop it. */
export interface ScratchServer {
  readonly listening: readonly { readonly url: URL }[];
  stop(): Promise<void>;
}

export interface WarmupLimits {
  /** Rounds to run at most; a round is 1–4 concurrent puts, their watch events, ranges. */
  readonly rounds: number;
  /** Wall-clock budget from the start, the scratch member's startup included. */
  readonly budgetMs: number;
  /** Asked before each round: true ends the warm-up (the real member has work to do). */
  readonly stop?: () => boolean;
}

export interface WarmupReport {
  readonly rounds: number;
  readonly ms: number;
}

const STREAMS = 2;
const KEYS = 64;
const PREFIX = "warmup/";
/**
 * Each stream's watchers, in creation order: the prefix (every event) and single keys,
 * which the hub finds by key instead. Both kinds must run here: code JSC optimized
 * having never seen a key watcher is thrown away at the first one (a client's usual
 * watch), and that recompiling is what the warm-up is for.
 */
const WATCHED = ["prefix", "prefix", 0, 1] as const;
/** Keys with a watcher of their own: each round's first put goes to one of them. */
const WATCHED_KEYS = 2;

/** Runs the warm-up; resolves with what it did, or with the error that ended it early. */
export async function warmUp(
  start: (config: ServerConfig) => Promise<ScratchServer>,
  limits: WarmupLimits,
): Promise<WarmupReport | Error> {
  const t0 = performance.now();
  let dir: string;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcdts-warmup-"));
  } catch (e) {
    return new Error(`no temporary directory: ${(e as Error).message}`);
  }
  const targets: Target[] = [];
  const servers: ScratchServer[] = [];
  try {
    // Two members, driven in turn. Code JSC optimized having seen one member only is
    // thrown away at the real member, the next instance: a closure's variables are
    // compiled as constants while one instance of its scope exists, and a call site that
    // has only ever called one closure (a member's stream handler, a watch stream's
    // sink) is compiled to call that one. Measured with BUN_JSC_printEachOSRExit: with
    // the second member idle, ~800 exits and 8 recompiles in the first 1000 real puts.
    for (const name of ["a", "b"]) servers.push(await start(scratchConfig(path.join(dir, name))));
    for (const server of servers) {
      const url = server.listening[0].url;
      const conns: GoShapedConnection[] = [];
      targets.push({ conns, progress: new WatchProgress() });
      for (let i = 0; i < STREAMS; i++) {
        conns.push(await GoShapedConnection.connect(url.hostname, Number(url.port)));
      }
    }
    const deadline = t0 + limits.budgetMs;
    const rounds = await drive(targets, limits, deadline);
    return rounds instanceof Error ? rounds : { rounds, ms: performance.now() - t0 };
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  } finally {
    for (const t of targets) for (const c of t.conns) c.close();
    for (const server of servers) await server.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
    // The warm-up's garbage goes now, not in a full collection under the first real load.
    Bun.gc(true);
    // Not Bun.shrink(), which would return more memory (10 of the warm-up's 17 MiB) by
    // deleting all compiled code: the very thing the warm-up made.
  }
}

/**
 * A lone, throwaway member in `dir`: loopback, a port of its own, elected at once, no
 * warm-up of its own. Also what in-process tests start.
 */
export function scratchConfig(dir: string): ServerConfig {
  const parsed = parseServerArgs([
    "--name=warmup",
    `--data-dir=${dir}`,
    "--listen-client-urls=http://127.0.0.1:0",
    "--advertise-client-urls=http://127.0.0.1:0",
    // A lone member listens to no peers; the URL only names it.
    "--initial-advertise-peer-urls=http://127.0.0.1:1",
    "--initial-cluster=warmup=http://127.0.0.1:1",
    // Elected within milliseconds, so the rounds start at once.
    "--heartbeat-interval=1",
    "--election-timeout=5",
    "--experimental-jit-warmup=false",
  ], {});
  if (parsed.kind !== "config") {
    throw new Error(`warm-up: ${parsed.kind === "error" ? parsed.message : parsed.kind}`);
  }
  return parsed.config;
}

/**
 * The prefix watchers' progress: the highest revision each has seen. Key watchers see
 * only their key's revisions; their events go out in the same fan-out as the prefix
 * watchers', so waiting for the latter is enough.
 */
class WatchProgress {
  // By stream, then watch ID (IDs are per stream).
  readonly #seen = new Map<string, bigint>();
  /** Watchers created so far, by stream: the n-th answers the n-th create request. */
  readonly #created: number[] = [];
  #waiter: { rev: bigint; done: () => void } | null = null;

  /** The message handler for stream `stream`. */
  listener = (stream: number) => (bytes: Uint8Array): void => {
    const m = fromBinary(WatchResponseSchema, bytes);
    const watcher = `${stream}/${m.watchId}`;
    if (m.created) {
      const n = this.#created[stream] = (this.#created[stream] ?? 0) + 1;
      if (WATCHED[n - 1] === "prefix") this.#seen.set(watcher, 0n);
    }
    if (!this.#seen.has(watcher)) return;
    for (const ev of m.events) {
      const rev = ev.kv?.modRevision ?? 0n;
      if (rev > (this.#seen.get(watcher) ?? 0n)) this.#seen.set(watcher, rev);
    }
    if (this.#waiter !== null && this.#reached(this.#waiter.rev)) {
      this.#waiter.done();
      this.#waiter = null;
    }
  };

  /** Watchers created, of every kind. */
  get watchers(): number {
    return this.#created.reduce((a, b) => a + b, 0);
  }

  /** Resolves once every prefix watcher has seen `rev`. */
  reach(rev: bigint): Promise<void> {
    if (this.#reached(rev)) return Promise.resolve();
    return new Promise((done) => (this.#waiter = { rev, done }));
  }

  #reached(rev: bigint): boolean {
    for (const r of this.#seen.values()) if (r < rev) return false;
    return true;
  }
}

/** A scratch member as the warm-up drives it: its connections and its watchers' progress. */
interface Target {
  readonly conns: GoShapedConnection[];
  readonly progress: WatchProgress;
}

async function drive(
  targets: readonly Target[],
  limits: WarmupLimits,
  deadline: number,
): Promise<number | Error> {
  const enc = new TextEncoder();
  const key = (i: number) => enc.encode(`${PREFIX}${i % KEYS}`);
  const value = new Uint8Array(128).fill(0x78);
  const puts = Array.from(
    { length: KEYS },
    (_, i) => toBinary(PutRequestSchema, create(PutRequestSchema, { key: key(i), value })),
  );
  const range = (i: number, prefix: boolean) =>
    toBinary(
      RangeRequestSchema,
      create(
        RangeRequestSchema,
        prefix ? { key: enc.encode(PREFIX), rangeEnd: enc.encode("warmup0"), limit: 16n } : { key: key(i) },
      ),
    );
  const ranges = [...Array.from({ length: KEYS }, (_, i) => range(i, false)), range(0, true)];
  const creates = WATCHED.map((w) =>
    toBinary(
      WatchRequestSchema,
      create(WatchRequestSchema, {
        requestUnion: {
          case: "createRequest",
          value: w === "prefix"
            ? { key: enc.encode(PREFIX), rangeEnd: enc.encode("warmup0") }
            : { key: key(w) },
        },
      }),
    )
  );
  for (const { conns, progress } of targets) {
    for (const [i, c] of conns.entries()) {
      const s = c.open("/etcdserverpb.Watch/Watch", progress.listener(i));
      for (const req of creates) s.send(req);
    }
  }
  // One timer for the whole drive: a stuck scratch member cannot hold the warm-up past it.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<Error>((r) => {
    timer = setTimeout(
      () => r(new Error("warm-up: the scratch member stopped answering")),
      // From now when a slow start has used up the budget already (a loaded host).
      Math.max(deadline - performance.now(), 0) + 1000,
    );
  });
  try {
    return await rounds(targets, limits, deadline, { puts, ranges, expired });
  } finally {
    clearTimeout(timer);
  }
}

async function rounds(
  targets: readonly Target[],
  limits: WarmupLimits,
  deadline: number,
  w: { puts: Uint8Array[]; ranges: Uint8Array[]; expired: Promise<Error> },
): Promise<number | Error> {
  const { puts, ranges, expired } = w;
  // A scratch member answers once it has elected itself, a few milliseconds in.
  for (const { conns, progress } of targets) {
    for (;;) {
      const r = await Promise.race([conns[0].unary("/etcdserverpb.KV/Range", ranges[0]), expired]);
      if (!(r instanceof Error) && progress.watchers === STREAMS * WATCHED.length) break;
      if (limits.stop?.()) return 0;
      if (performance.now() > deadline) {
        return r instanceof Error ? r : new Error("warm-up: watchers not created");
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  let round = 0;
  for (; round < limits.rounds && performance.now() < deadline && !limits.stop?.(); round++) {
    const { conns, progress } = targets[round % targets.length];
    // Each member gets the same sequence of rounds, every other round.
    const turn = Math.floor(round / targets.length);
    const n = 1 + (turn % 4);
    const replies = await Promise.race([
      Promise.all(
        Array.from(
          { length: n },
          (_, j) =>
            conns[0].unary(
              "/etcdserverpb.KV/Put",
              puts[j === 0 ? turn % WATCHED_KEYS : (turn * 4 + j) % KEYS],
            ),
        ),
      ),
      expired,
    ]);
    if (replies instanceof Error) return replies;
    let rev = 0n;
    for (const r of replies) {
      if (r instanceof Error) return r;
      const h = fromBinary(PutResponseSchema, r).header;
      if (h !== undefined && h.revision > rev) rev = h.revision;
    }
    const seen = await Promise.race([progress.reach(rev), expired]);
    if (seen instanceof Error) return seen;
    const read = await Promise.race([
      conns[1].unary("/etcdserverpb.KV/Range", ranges[turn % 4 === 3 ? KEYS : turn % KEYS]),
      expired,
    ]);
    if (read instanceof Error) return read;
  }
  return round;
}
