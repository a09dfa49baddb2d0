/**
 * gRPC keepalive on real processes, the same test against etcdts and etcd 3.4: the server
 * pings an idle connection every --grpc-keepalive-interval and closes it when the ping is
 * not answered within --grpc-keepalive-timeout; a client pinging more often than
 * --grpc-keepalive-min-time allows gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
 */
import { afterAll, describe, expect, test } from "bun:test";
import { DATA, ErrorCode, GOAWAY, PING } from "../../h2/frame.ts";
import { cleanup, CONFORMANCE_TARGETS, startServer, waitFor } from "../harness.ts";
import { RawClient, u32At } from "../h2/raw_client.ts";

afterAll(cleanup);

const WATCH: [string, string][] = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/etcdserverpb.Watch/Watch"],
  [":authority", "127.0.0.1"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
];

/** A gRPC-framed WatchRequest{create_request{key:"k"}}. */
const CREATE_WATCH = Uint8Array.from([0, 0, 0, 0, 5, 0x0a, 3, 0x0a, 1, 0x6b]);

async function watchers(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  return Number(
    text.split("\n").find((l) => l.startsWith("etcd_debugging_mvcc_watcher_total "))?.split(" ")[1],
  );
}

function port(endpoint: string): number {
  return Number(endpoint.split(":")[1]);
}

function ping(c: RawClient, n: number): void {
  c.send({ type: PING, flags: 0, streamId: 0, payload: new Uint8Array(8).fill(n) });
}

async function expectTooManyPings(c: RawClient): Promise<void> {
  const g = await c.waitFrame("GOAWAY", (f) => f.type === GOAWAY);
  expect(u32At(g.payload, 4)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  expect(new TextDecoder().decode(g.payload.subarray(8))).toBe("too_many_pings");
  await c.waitFrame("the connection to close", () => c.closed);
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind}: gRPC keepalive`, () => {
    test("an unanswered keepalive ping closes the connection, an answered one keeps it", async () => {
      const server = await startServer(kind, {
        extraArgs: ["--grpc-keepalive-interval=1s", "--grpc-keepalive-timeout=1s"],
      });
      const dead = await RawClient.connect(port(server.endpoint));
      const live = await RawClient.connect(port(server.endpoint));
      live.answerPings();
      // A watch on the dead connection: freed with it (etcd's watcher gauge goes back to 0).
      dead.request(1, WATCH, false);
      dead.send({ type: DATA, flags: 0, streamId: 1, payload: CREATE_WATCH });
      const started = Date.now();
      await waitFor("the watcher", async () => await watchers(server.clientUrl) === 1);
      await dead.waitFrame("the server's PING", (f) => f.type === PING && f.flags === 0);
      await dead.waitFrame("the connection to close", () => dead.closed);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(1500);
      expect(took).toBeLessThan(6000);
      await waitFor("the watcher to be freed", async () => await watchers(server.clientUrl) === 0);
      // The live client was pinged too, answered, and is still connected.
      expect(live.frames.some((f) => f.type === PING && f.flags === 0)).toBe(true);
      expect(live.closed).toBe(false);
      expect(live.frames.some((f) => f.type === GOAWAY)).toBe(false);
      live.close();
    }, 20_000);

    test("pings without a stream open: the fourth within two hours gets too_many_pings", async () => {
      const server = await startServer(kind);
      const c = await RawClient.connect(port(server.endpoint));
      for (let i = 0; i < 3; i++) ping(c, i);
      await c.waitFrame(
        "3 PING ACKs",
        () => c.frames.filter((f) => f.type === PING && f.flags === 1).length === 3,
      );
      expect(c.frames.some((f) => f.type === GOAWAY)).toBe(false);
      ping(c, 3);
      await expectTooManyPings(c);
    });

    test("a ping after each DATA the server writes is never a strike (a client's BDP estimator)", async () => {
      // grpc-go's client pings after every DATA it receives to size its window; grpc-go's
      // server resets the strikes on each header and data write, so a busy watch stream
      // never gets too_many_pings however fast its events come.
      const server = await startServer(kind);
      const c = await RawClient.connect(port(server.endpoint));
      c.request(1, WATCH, false);
      c.send({ type: DATA, flags: 0, streamId: 1, payload: CREATE_WATCH });
      const dataFrames = () => c.frames.filter((f) => f.type === DATA && f.streamId === 1).length;
      await c.waitFrame("the watch's created response", (f) => f.type === DATA && f.streamId === 1);
      for (let i = 0; i < 8; i++) {
        const before = dataFrames();
        const put = await fetch(`${server.clientUrl}/v3/kv/put`, {
          method: "POST",
          body: JSON.stringify({ key: btoa("k"), value: btoa(String(i)) }),
        });
        expect(put.status).toBe(200);
        await c.waitFrame(`event ${i}`, () => dataFrames() > before);
        ping(c, i);
      }
      await c.waitFrame(
        "8 PING ACKs",
        () => c.frames.filter((f) => f.type === PING && f.flags === 1).length === 8,
      );
      expect(c.frames.some((f) => f.type === GOAWAY)).toBe(false);
      expect(c.closed).toBe(false);
      c.close();
    });

    test("with a stream open, pings min-time apart are fine and faster ones are not", async () => {
      const server = await startServer(kind, { extraArgs: ["--grpc-keepalive-min-time=300ms"] });
      const c = await RawClient.connect(port(server.endpoint));
      c.request(1, WATCH, false);
      for (let i = 0; i < 5; i++) {
        ping(c, i);
        await Bun.sleep(400);
      }
      expect(c.frames.filter((f) => f.type === PING && f.flags === 1).length).toBe(5);
      expect(c.frames.some((f) => f.type === GOAWAY)).toBe(false);
      // The first of these is min-time after the last; the three after it strike.
      for (let i = 0; i < 4; i++) ping(c, 10 + i);
      await expectTooManyPings(c);
    }, 15_000);
  });
}
