/**
 * gRPC keepalive on the server side, as grpc-go's http2Server applies etcd's
 * `--grpc-keepalive-interval`, `--grpc-keepalive-timeout` and `--grpc-keepalive-min-time`:
 * an idle connection is pinged every interval and closed when nothing (the ACK included)
 * arrives within the timeout, so a vanished client's watches and lease keep-alives are
 * freed; a client that pings more often than the policy allows gets GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings" (grpc-go's ping strikes).
 *
 * Both halves are pure: the caller passes the time (milliseconds on any monotonic clock),
 * so unit tests step a fake clock.
 */

/** The three flags, in milliseconds. */
export interface KeepaliveSettings {
  /** --grpc-keepalive-interval: how long a connection may be silent before we ping it. */
  readonly intervalMs: number;
  /** --grpc-keepalive-timeout: how long we wait after our ping before closing. */
  readonly timeoutMs: number;
  /** --grpc-keepalive-min-time: the shortest interval between a client's pings we accept. */
  readonly minTimeMs: number;
}

/** grpc-go's defaults when etcd leaves a setting at 0 (keepalive.ServerParameters, EnforcementPolicy). */
const DEFAULT_INTERVAL_MS = 2 * 3600_000;
const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_MIN_TIME_MS = 5 * 60_000;
/** grpc-go: a third ping too early closes the connection. */
const MAX_PING_STRIKES = 2;
/** grpc-go's defaultPingTimeout: with no stream open, one ping per two hours is allowed. */
const NO_STREAM_PING_MS = 2 * 3600_000;

/**
 * What etcd hands grpc-go: it sets the enforcement policy only for a positive min-time and
 * the server parameters only when both interval and timeout are positive; grpc-go fills in
 * its defaults for what is not set.
 */
export function keepaliveSettings(
  intervalMs: number,
  timeoutMs: number,
  minTimeMs: number,
): KeepaliveSettings {
  const params = intervalMs > 0 && timeoutMs > 0;
  return {
    intervalMs: params ? intervalMs : DEFAULT_INTERVAL_MS,
    timeoutMs: params ? timeoutMs : DEFAULT_TIMEOUT_MS,
    minTimeMs: minTimeMs > 0 ? minTimeMs : DEFAULT_MIN_TIME_MS,
  };
}

/** What the keepalive timer asks for when it fires. */
export interface KeepaliveStep {
  readonly ping: boolean;
  readonly close: boolean;
  /** When to fire next (ms from now); meaningless once `close`. */
  readonly delayMs: number;
}

/** grpc-go's http2Server.keepalive loop, one timer firing at a time. */
export class ServerPinger {
  readonly #interval: number;
  readonly #timeout: number;
  #lastRead: number;
  #readSince = false;
  #outstanding = false;
  #timeoutLeft = 0;

  constructor(settings: KeepaliveSettings, now: number) {
    this.#interval = settings.intervalMs;
    this.#timeout = settings.timeoutMs;
    this.#lastRead = now;
  }

  /** The first timer: one interval from the connection's start. */
  get firstDelayMs(): number {
    return this.#interval;
  }

  /** Anything read from the peer (any frame, our ping's ACK included) is activity. */
  read(now: number): void {
    this.#lastRead = now;
    this.#readSince = true;
  }

  fire(now: number): KeepaliveStep {
    if (this.#readSince) {
      // Activity since the last firing: check again one interval after the last read.
      this.#readSince = false;
      this.#outstanding = false;
      return { ping: false, close: false, delayMs: Math.max(0, this.#lastRead + this.#interval - now) };
    }
    if (this.#outstanding && this.#timeoutLeft <= 0) return { ping: false, close: true, delayMs: 0 };
    let ping = false;
    if (!this.#outstanding) {
      ping = true;
      this.#timeoutLeft = this.#timeout;
      this.#outstanding = true;
    }
    const delayMs = Math.min(this.#interval, this.#timeoutLeft);
    this.#timeoutLeft -= delayMs;
    return { ping, close: false, delayMs };
  }
}

/** grpc-go's handlePing policy: counts a client's pings that come too early. */
export class PingPolicy {
  readonly #minTime: number;
  #lastPingAt = -Infinity;
  #strikes = 0;
  #reset = false;

  constructor(settings: KeepaliveSettings) {
    this.#minTime = settings.minTimeMs;
  }

  /**
   * We wrote headers, trailers or DATA: the next ping is not judged (grpc-go's
   * setResetPingStrikes runs on every header and data write). A client's BDP estimator
   * pings after each DATA it receives, so judging those pings would end busy watch and
   * lease keep-alive connections with "too_many_pings".
   */
  wrote(): void {
    this.#reset = true;
  }

  /** A client's PING (not an ACK); false when the connection must end with "too_many_pings". */
  ping(now: number, openStreams: number): boolean {
    const last = this.#lastPingAt;
    this.#lastPingAt = now;
    if (this.#reset) {
      this.#reset = false;
      this.#strikes = 0;
      return true;
    }
    // etcd sets PermitWithoutStream false: without a stream, pings are held to two hours.
    const allowed = openStreams < 1 ? NO_STREAM_PING_MS : this.#minTime;
    if (last + allowed > now) this.#strikes++;
    return this.#strikes <= MAX_PING_STRIKES;
  }
}
