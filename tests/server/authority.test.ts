/**
 * etcdctl 3.4 sends a URL as :authority on its maintenance calls when its endpoints are
 * URLs; the client port must still answer them, as grpc-go's server does (Bun's
 * node:http2 refused them; our HTTP/2 layer, server/h2/, takes any authority).
 */
import { afterAll, expect, test } from "bun:test";
import { cleanup, etcdctl, haveRealEtcd, startServer } from "../harness.ts";

afterAll(cleanup);

test.skipIf(!haveRealEtcd())("etcdctl's maintenance calls with URL endpoints are answered", async () => {
  const s = await startServer("etcdts");
  expect((await etcdctl(s.clientUrl, ["put", "a", "b"])).stdout).toBe("OK\n");
  for (const args of [["endpoint", "status"], ["endpoint", "hashkv"], ["defrag"]]) {
    const r = await etcdctl(s.clientUrl, args);
    expect({ args, code: r.code, out: r.stdout.startsWith(s.clientUrl) || r.stdout.includes(s.clientUrl) })
      .toEqual({ args, code: 0, out: true });
  }
  // Plain host:port endpoints go straight to the server, as before.
  expect((await etcdctl(s.endpoint, ["endpoint", "status"])).stdout).toStartWith(`${s.endpoint}, `);
}, 60_000);
