/**
 * --experimental-warning-apply-duration on real processes, against etcdts and etcd 3.4: an
 * apply slower than the threshold logs etcd's "apply request took too long" and counts in
 * etcd_server_slow_apply_total.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, etcdctl, startServer, waitFor } from "../harness.ts";

afterAll(cleanup);

async function slowApplies(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("etcd_server_slow_apply_total "));
  return Number(line?.split(" ")[1] ?? NaN);
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind}: slow apply warning`, () => {
    test("every apply is slower than 1ns: warned with etcd's message and counted", async () => {
      const server = await startServer(kind, {
        extraArgs: ["--logger=zap", "--experimental-warning-apply-duration=1ns"],
      });
      const before = await slowApplies(server.clientUrl);
      expect((await etcdctl(server.endpoint, ["put", "slow", "abc"])).code).toBe(0);
      await waitFor("the warning", () => server.stderr().includes("apply request took too long"));
      const line = server.stderr().split("\n").find((l) => l.includes("apply request took too long"))!;
      const entry = JSON.parse(line);
      expect(entry.level).toBe("warn");
      expect(entry["expected-duration"]).toBe("1ns");
      expect(typeof entry.took).toBe("string");
      expect(await slowApplies(server.clientUrl)).toBeGreaterThan(before);
    });

    test("the default 100ms stays quiet for a put", async () => {
      const server = await startServer(kind, { extraArgs: ["--logger=zap"] });
      expect((await etcdctl(server.endpoint, ["put", "fast", "abc"])).code).toBe(0);
      await Bun.sleep(200);
      expect(server.stderr()).not.toContain("apply request took too long");
    });
  });
}
