/**
 * A watcher whose client stops reading must neither stall writes nor other watchers, and
 * once it reads again it gets every event, in order, exactly once (caught up from history).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Watch, type WatchResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, CONFORMANCE_TARGETS, type ServerProcess, startServer } from "../harness.ts";
import { connect, dec, enc } from "./session.ts";

setDefaultTimeout(120_000);

const targets = CONFORMANCE_TARGETS;

for (const kind of targets) {
  describe(`a watcher that stops reading, on ${kind}`, () => {
    let server: ServerProcess;
    beforeAll(async () => {
      server = await startServer(kind);
    });
    afterAll(cleanup);

    test("writes go on, a reading watcher keeps up, the stalled one catches up exactly", async () => {
      const { client, kv } = connect(server.endpoint);
      const stalled = client.service(Watch).watch();
      await stalled.send({
        requestUnion: { case: "createRequest", value: { key: enc("s/"), rangeEnd: enc("s0") } },
      });
      expect((await stalled.read())!.created).toBe(true);
      const reader = connect(server.endpoint).session();
      await reader.watch({ key: enc("s/"), rangeEnd: enc("s0"), prevKv: true });

      const N = 400;
      const value = "x".repeat(8 * 1024);
      const revs: bigint[] = [];
      for (let i = 0; i < N; i++) {
        revs.push((await kv.put({ key: enc(`s/${i % 7}`), value: enc(`${i}:${value}`) })).header!.revision);
      }
      // The reading watcher got everything while the other one was not read at all.
      const live: bigint[] = [];
      while (live.length < N) for (const e of (await reader.next()).events) live.push(e.kv!.modRevision);
      expect(live).toEqual(revs);

      const got: { rev: bigint; i: number }[] = [];
      while (got.length < N) {
        const r: WatchResponse | undefined = await stalled.read();
        if (r === undefined) throw new Error("stream ended");
        for (const e of r.events) {
          got.push({ rev: e.kv!.modRevision, i: Number(dec(e.kv!.value).split(":")[0]) });
        }
      }
      expect(got.map((g) => g.rev)).toEqual(revs);
      expect(got.map((g) => g.i)).toEqual(Array.from({ length: N }, (_, i) => i));
      stalled.cancel();
      reader.close();
      client.close();
    });
  });
}
