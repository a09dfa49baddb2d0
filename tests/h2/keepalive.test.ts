/**
 * grpc-go's server keepalive, step by step on a fake clock: when the server pings an idle
 * connection, when it gives up on it, and how a client's pings are judged (ping strikes).
 */
import { describe, expect, test } from "bun:test";
import { keepaliveSettings, PingPolicy, ServerPinger } from "../../server/h2/keepalive.ts";

const S = 1000;

describe("ServerPinger", () => {
  const settings = keepaliveSettings(10 * S, 3 * S, 5 * S);

  test("an idle connection is pinged after one interval and closed one timeout later", () => {
    const p = new ServerPinger(settings, 0);
    expect(p.firstDelayMs).toBe(10 * S);
    expect(p.fire(10 * S)).toEqual({ ping: true, close: false, delayMs: 3 * S });
    expect(p.fire(13 * S)).toEqual({ ping: false, close: true, delayMs: 0 });
  });

  test("an answer (any frame) keeps the connection and restarts the interval from it", () => {
    const p = new ServerPinger(settings, 0);
    expect(p.fire(10 * S).ping).toBe(true);
    p.read(11 * S); // the ACK
    expect(p.fire(13 * S)).toEqual({ ping: false, close: false, delayMs: 8 * S });
    expect(p.fire(21 * S)).toEqual({ ping: true, close: false, delayMs: 3 * S });
  });

  test("a busy connection is never pinged", () => {
    const p = new ServerPinger(settings, 0);
    let now = 0;
    let delay = p.firstDelayMs;
    for (let i = 0; i < 10; i++) {
      p.read(now + delay - 1);
      now += delay;
      const step = p.fire(now);
      expect(step.ping).toBe(false);
      delay = step.delayMs;
    }
  });

  test("a timeout longer than the interval is waited out in interval-sized sleeps", () => {
    const p = new ServerPinger(keepaliveSettings(2 * S, 5 * S, 0), 0);
    expect(p.fire(2 * S)).toEqual({ ping: true, close: false, delayMs: 2 * S });
    expect(p.fire(4 * S)).toEqual({ ping: false, close: false, delayMs: 2 * S });
    expect(p.fire(6 * S)).toEqual({ ping: false, close: false, delayMs: 1 * S });
    expect(p.fire(7 * S).close).toBe(true);
  });
});

describe("keepaliveSettings", () => {
  test("etcd passes only positive values; grpc-go's defaults fill the rest", () => {
    expect(keepaliveSettings(0, 20 * S, 0)).toEqual({
      intervalMs: 2 * 3600 * S,
      timeoutMs: 20 * S,
      minTimeMs: 5 * 60 * S,
    });
    expect(keepaliveSettings(S, 0, 3 * S)).toEqual({
      intervalMs: 2 * 3600 * S,
      timeoutMs: 20 * S,
      minTimeMs: 3 * S,
    });
  });
});

describe("PingPolicy", () => {
  test("with a stream open, the third early ping after the first is one too many", () => {
    const p = new PingPolicy(keepaliveSettings(0, 0, 5 * S));
    expect(p.ping(0, 1)).toBe(true); // the first is never early
    expect(p.ping(1 * S, 1)).toBe(true); // strike 1
    expect(p.ping(2 * S, 1)).toBe(true); // strike 2
    expect(p.ping(3 * S, 1)).toBe(false); // strike 3
  });

  test("pings min-time apart are fine", () => {
    const p = new PingPolicy(keepaliveSettings(0, 0, 5 * S));
    for (let i = 0; i < 10; i++) expect(p.ping(i * 5 * S, 1)).toBe(true);
  });

  test("without a stream, pings are held to one per two hours", () => {
    const p = new PingPolicy(keepaliveSettings(0, 0, 5 * S));
    const hour = 3600 * S;
    expect(p.ping(0, 0)).toBe(true);
    expect(p.ping(1 * hour, 0)).toBe(true);
    expect(p.ping(2 * hour, 0)).toBe(true);
    expect(p.ping(3 * hour, 0)).toBe(false);
  });

  test("headers, trailers or DATA written reset the strikes, and that ping is not judged", () => {
    const p = new PingPolicy(keepaliveSettings(0, 0, 5 * S));
    p.ping(0, 1);
    p.ping(1, 1);
    p.ping(2, 1);
    p.wrote();
    expect(p.ping(3, 1)).toBe(true);
    expect(p.ping(4, 1)).toBe(true);
    expect(p.ping(5, 1)).toBe(true);
    expect(p.ping(6, 1)).toBe(false);
  });
});
