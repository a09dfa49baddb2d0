/**
 * Auto compaction (`--auto-compaction-mode`, `--auto-compaction-retention`), etcd's
 * v3compactor: only the leader compacts, and it does so by proposing a Compaction through
 * the log like any client, so every member compacts at the same revision.
 *
 * - periodic: keep at least `retention` of history. The revision is sampled every
 *   retention/10 (at most 6 min); once `retention` has passed since the start or the last
 *   compaction, compact to the revision sampled `retention` ago, then again every
 *   retention (at most 1 h).
 * - revision: every 5 minutes, compact to current revision − retention.
 */
import type { EtcdError } from "../api/errors.ts";
import { Errors } from "../api/errors.ts";
import { parseGoDuration } from "../lib/gofmt.ts";

/** What auto compaction keeps. */
export type Retention =
  | { readonly mode: "periodic"; readonly periodMs: number }
  | { readonly mode: "revision"; readonly revisions: bigint };

const HOUR_MS = 3_600_000;

/**
 * Parses `--auto-compaction-retention` as etcd does: for periodic a bare integer counts
 * hours, else a Go duration; for revision an integer. Null when disabled (0).
 */
export function parseRetention(mode: "periodic" | "revision", value: string): Retention | null | Error {
  if (mode === "revision") {
    if (!/^[+-]?\d+$/.test(value)) {
      return new Error(`invalid value "${value}" for --auto-compaction-retention: not a revision count`);
    }
    const n = BigInt(value);
    return n <= 0n ? null : { mode, revisions: n };
  }
  const ms = /^\+?\d+$/.test(value) ? Number(value) * HOUR_MS : parseGoDuration(value);
  if (typeof ms !== "number") return new Error(`--auto-compaction-retention: ${ms.error}`);
  return ms <= 0 ? null : { mode, periodMs: ms };
}

/** What a compactor drives. */
export interface CompactorDeps {
  /** The store's current revision. */
  rev(): bigint;
  /** Proposes a compaction through the log; null on success. */
  compact(rev: bigint): Promise<EtcdError | null>;
  /** Only the leader compacts (etcd pauses the compactor on followers). */
  isLeader(): boolean;
  /** Milliseconds, monotonic enough; injectable for tests. */
  now(): number;
}

/** etcd's revision compactor interval. */
export const REVISION_CHECK_MS = 5 * 60_000;

/**
 * The decision logic, driven by `tick()` every `intervalMs` (a timer in production, a
 * test's loop otherwise). Keeps no timer itself.
 */
export class CompactionPolicy {
  readonly intervalMs: number;
  readonly #r: Retention;
  readonly #deps: CompactorDeps;
  // periodic
  #revs: bigint[] = [];
  #lastSuccess: number;
  #baseInterval: number;
  // revision
  #prev = 0n;

  constructor(retention: Retention, deps: CompactorDeps) {
    this.#r = retention;
    this.#deps = deps;
    this.#lastSuccess = deps.now();
    if (retention.mode === "periodic") {
      const capped = Math.min(retention.periodMs, HOUR_MS);
      this.intervalMs = capped / 10;
      this.#baseInterval = retention.periodMs;
      this.#revs.push(deps.rev());
    } else {
      this.intervalMs = REVISION_CHECK_MS;
      this.#baseInterval = 0;
    }
  }

  /** One wake-up; resolves with the revision it compacted to, if it did. */
  async tick(): Promise<bigint | null> {
    return this.#r.mode === "periodic"
      ? await this.#periodic(this.#r.periodMs)
      : await this.#revision(this.#r.revisions);
  }

  async #periodic(periodMs: number): Promise<bigint | null> {
    let done: bigint | null = null;
    const d = this.#deps;
    if (d.isLeader() && d.now() - this.#lastSuccess >= this.#baseInterval) {
      if (this.#baseInterval === periodMs) this.#baseInterval = Math.min(periodMs, HOUR_MS);
      const rev = this.#revs[0];
      const err = await d.compact(rev);
      if (err === null || err.message === Errors.Compacted.message) {
        this.#lastSuccess = d.now();
        done = rev;
      }
    }
    this.#revs.push(d.rev());
    // revs[0] is the revision sampled one retention ago.
    const keep = Math.floor(periodMs / this.intervalMs) + 1;
    if (this.#revs.length > keep) this.#revs = this.#revs.slice(this.#revs.length - keep);
    return done;
  }

  async #revision(retention: bigint): Promise<bigint | null> {
    const d = this.#deps;
    if (!d.isLeader()) return null;
    const rev = d.rev() - retention;
    if (rev <= 0n || rev === this.#prev) return null;
    const err = await d.compact(rev);
    if (err === null || err.message === Errors.Compacted.message) {
      this.#prev = rev;
      return rev;
    }
    return null;
  }
}

/** Runs a policy on a timer until `stop()`. */
export function startCompactor(policy: CompactionPolicy, onError: (e: unknown) => void): { stop(): void } {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const loop = () => {
    timer = setTimeout(async () => {
      try {
        await policy.tick();
      } catch (e) {
        onError(e);
      }
      if (!stopped) loop();
    }, policy.intervalMs);
    (timer as { unref?: () => void }).unref?.();
  };
  loop();
  return {
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
