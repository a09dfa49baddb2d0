/**
 * etcd's initial election tick advance in a 3-member cluster: each member logs that it
 * waits for its peers, then that it forwarded its election clock by all ticks but two once
 * both were reachable; with --initial-election-tick-advance=false it logs that it skips it.
 * The same lines, with the same fields, from etcdts and from the real etcd 3.4.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, type ServerProcess, startCluster, waitFor } from "../harness.ts";

afterAll(cleanup);

/** The zap line whose message is `msg`, once `m` wrote it. */
async function line(m: ServerProcess, msg: string): Promise<Record<string, unknown>> {
  const find = () =>
    m.stderr().split("\n").flatMap((l) => {
      try {
        const o = JSON.parse(l) as Record<string, unknown>;
        return o.msg === msg ? [o] : [];
      } catch {
        return [];
      }
    })[0];
  await waitFor(`"${msg}" in ${m.clientUrl}'s log`, () => find() !== undefined);
  return find()!;
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(`initial election tick advance on ${kind}`, () => {
    const zap = kind === "etcd" ? ["--logger=zap"] : [];

    test("each member forwards its election clock once both peers are reachable", async () => {
      // startCluster: --heartbeat-interval 50 --election-timeout 500, so 10 election ticks.
      const c = await startCluster(3, { kind, extraArgs: zap });
      for (const m of c.members) {
        expect(await line(m, "starting initial election tick advance")).toMatchObject({
          level: "info",
          "election-ticks": 10,
        });
        const advanced = await line(m, "initialized peer connections; fast-forwarding election ticks");
        expect(advanced).toMatchObject({
          level: "info",
          "forward-ticks": 8,
          "forward-duration": "400ms",
          "election-ticks": 10,
          "election-timeout": "500ms",
          "active-remote-members": 2,
        });
        expect(advanced["local-member-id"]).toMatch(/^[0-9a-f]{1,16}$/);
      }
      await Promise.all(c.members.map((m) => m.stop()));
    }, 30_000);

    test("--initial-election-tick-advance=false skips it", async () => {
      const c = await startCluster(3, { kind, extraArgs: [...zap, "--initial-election-tick-advance=false"] });
      for (const m of c.members) {
        expect(await line(m, "skipping initial election tick advance")).toMatchObject({
          "election-ticks": 10,
        });
        expect(m.stderr()).not.toContain("fast-forwarding election ticks");
      }
      await Promise.all(c.members.map((m) => m.stop()));
    }, 30_000);
  });
}
