/**
 * The server's log lines, on stderr, in etcd's structured (zap JSON) shape so log
 * tooling written for etcd reads them.
 */
type Level = "debug" | "info" | "warn" | "error" | "fatal";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3, fatal: 4 };

/** The single owner of the log threshold, set from --log-level at startup. */
class Logger {
  #min = ORDER.info;

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
    const line = JSON.stringify(
      { level, ts: new Date().toISOString(), caller: "etcdts", msg, ...fields },
      (_k, v) => typeof v === "bigint" ? v.toString() : v,
    );
    process.stderr.write(line + "\n");
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

/**
 * An unexpected exception as log fields, as zap's `zap.Error` gives them: the message,
 * and the stack (console.error would print a source excerpt of the minified bundle).
 */
export function errorFields(e: unknown): Record<string, unknown> {
  return e instanceof Error ? { error: e.message, stack: e.stack } : { error: String(e) };
}

export const log = new Logger();
