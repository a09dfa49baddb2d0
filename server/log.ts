/**
 * The server's log lines, in etcd's structured (zap JSON) shape so log tooling written for
 * etcd reads them, or capnslog's text lines (`--logger=capnslog`, etcd 3.4's deprecated
 * logger); on stderr unless `--log-outputs` names other targets.
 */
import * as fs from "node:fs";

type Level = "debug" | "info" | "warn" | "error" | "fatal";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3, fatal: 4 };
/** capnslog's one-letter levels (fatal is its CRITICAL). */
const LETTER: Record<Level, string> = { debug: "D", info: "I", warn: "W", error: "E", fatal: "C" };

/** Where lines go: etcd's `--log-outputs` targets, opened. */
type Sink = (line: string) => void;

function stderrSink(line: string): void {
  process.stderr.write(line);
}

/**
 * Opens `--log-outputs` targets as zap does: `stderr`, `stdout`, anything else a file
 * path opened for appending (created if missing). `default` is stderr, and so is
 * `journal` (etcdts does not write to systemd's journal; serveMain warns).
 */
export function openLogOutputs(targets: readonly string[]): Sink[] {
  return targets.map((t) => {
    if (t === "stdout") return (line: string) => void process.stdout.write(line);
    if (t === "stderr" || t === "default" || t === "journal") return stderrSink;
    const fd = fs.openSync(t, "a", 0o666);
    return (line: string) => void fs.writeSync(fd, line);
  });
}

/** The single owner of the log threshold, set from --log-level at startup. */
class Logger {
  #min = ORDER.info;
  #sinks: Sink[] = [stderrSink];
  #capnslog = false;

  /** `--logger` and `--log-outputs` (opened with openLogOutputs). */
  configure(opts: { readonly capnslog: boolean; readonly sinks: Sink[] }): void {
    this.#capnslog = opts.capnslog;
    this.#sinks = opts.sinks;
  }

  /** etcd's --log-level names; "panic" logs what "fatal" does. */
  setLevel(level: string): void {
    this.#min = ORDER[(level === "panic" ? "fatal" : level) as Level] ?? ORDER.info;
  }

  /** The current threshold, to restore after a quiet stretch. */
  get level(): Level {
    return (Object.keys(ORDER) as Level[]).find((l) => ORDER[l] === this.#min)!;
  }

  #write(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[level] < this.#min) return;
    const line = this.#capnslog ? capnslogLine(level, msg, fields) : JSON.stringify(
      { level, ts: new Date().toISOString(), caller: "etcdts", msg, ...fields },
      (_k, v) => typeof v === "bigint" ? v.toString() : v,
    );
    for (const sink of this.#sinks) sink(line + "\n");
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#write("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.#write("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#write("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.#write("error", msg, fields);
  }
  /** Logs why the process is about to exit; the caller exits. */
  fatal(msg: string, fields?: Record<string, unknown>): void {
    this.#write("fatal", msg, fields);
  }
}

/** capnslog's pretty format: `2006-01-02 15:04:05.000000 I | pkg: message`, fields after it. */
function capnslogLine(level: Level, msg: string, fields?: Record<string, unknown>): string {
  const d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const ts = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
  const extra = fields === undefined ? "" : Object.entries(fields)
    .map(([k, v]) => ` ${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`).join("");
  return `${ts} ${LETTER[level]} | etcdts: ${msg}${extra}`;
}

/**
 * An unexpected exception as log fields, as zap's `zap.Error` gives them: the message,
 * and the stack (console.error would print a source excerpt of the minified bundle).
 */
export function errorFields(e: unknown): Record<string, unknown> {
  return e instanceof Error ? { error: e.message, stack: e.stack } : { error: String(e) };
}

export const log = new Logger();
