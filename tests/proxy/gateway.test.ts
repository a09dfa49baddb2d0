/**
 * `etcd gateway start`: the L4 gateway in front of a 3-member cluster keeps serving the
 * CLI after a member is killed (the dead endpoint is marked inactive and skipped), ours
 * in front of etcdts and etcd's own in front of etcd.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, etcdctl, startCluster } from "../harness.ts";
import { startProxy } from "./proxy_process.ts";

afterAll(cleanup);

describe.each(CONFORMANCE_TARGETS)("gateway in front of a 3-member %s cluster", (kind) => {
  test("round-robins connections and skips a killed member", async () => {
    const cluster = await startCluster(3, { kind });
    const gw = await startProxy(kind, "gateway", [
      "--endpoints",
      cluster.endpoints.join(","),
      "--retry-delay",
      "1h",
    ]);
    expect((await etcdctl(gw.endpoint, ["put", "k", "v1"])).stdout).toBe("OK\n");
    // Each connection goes to the next member: three in a row reach all three.
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`http://${gw.endpoint}/v3/maintenance/status`, {
        method: "POST",
        body: "{}",
        headers: { connection: "close" },
      });
      ids.add(/"member_id":"?(\d+)/.exec(await r.text())![1]);
    }
    expect(ids.size).toBe(3);
    await cluster.members[1].kill9();
    for (let i = 0; i < 6; i++) {
      const r = await etcdctl(gw.endpoint, ["get", "k", "--print-value-only"]);
      expect(r).toMatchObject({ code: 0, stdout: "v1\n" });
    }
    if (kind === "etcdts") expect(gw.stderr()).toContain('"msg":"deactivated endpoint"');
  });
});
