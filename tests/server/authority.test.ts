/**
 * etcdctl 3.4 sends a URL as :authority on its maintenance calls when its endpoints are
 * URLs; the client port must still answer them (server/grpc/authority.ts).
 */
import { afterAll, expect, test } from "bun:test";
import { authorityOfUrl } from "../../server/grpc/authority.ts";
import { cleanup, etcdctl, haveRealEtcd, startServer } from "../harness.ts";

afterAll(cleanup);

test("authorityOfUrl: URLs become host:port, plain authorities stay", () => {
  expect(authorityOfUrl("http://127.0.0.1:2379")).toBe("127.0.0.1:2379");
  expect(authorityOfUrl("https://[::1]:2379/x")).toBe("[::1]:2379");
  expect(authorityOfUrl("127.0.0.1:2379")).toBeNull();
  expect(authorityOfUrl("localhost")).toBeNull();
});

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
