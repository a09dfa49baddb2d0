/**
 * A restored data dir starts as the member the restore named, with no cluster flags: the
 * restore writes the new member's first log, as etcd's restore writes its WAL. Before, an
 * etcdts member restored for a 3-member cluster and started as the README shows (data dir,
 * name and its own URLs) bootstrapped a one-member cluster of its own: three leaders. The
 * same steps run against the real etcd, each restoring with its own CLI.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cleanup,
  etcdctl,
  ETCDCTL_BIN,
  etcdts,
  ETCDTS_BIN,
  freePort,
  haveRealEtcd,
  run,
  type RunResult,
  type ServerProcess,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

const kinds = haveRealEtcd() ? (["etcdts", "etcd"] as const) : (["etcdts"] as const);

for (const kind of kinds) {
  const cli = (endpoint: string, args: readonly string[]): Promise<RunResult> =>
    kind === "etcdts" ? etcdts(endpoint, args) : etcdctl(endpoint, args);
  const offline = (args: readonly string[]) =>
    run([kind === "etcdts" ? ETCDTS_BIN : ETCDCTL_BIN, ...args], { env: { ETCDCTL_API: "3" } });

  describe(`${kind}: a restored data dir`, () => {
    const dir = tempDir(`${kind}-restore-identity-`);
    const snapshot = path.join(dir, "snap.db");

    test("is saved from a server holding a key", async () => {
      const source = await startServer(kind);
      expect((await cli(source.endpoint, ["put", "restored", "yes"])).code).toBe(0);
      const saved = await cli(source.endpoint, ["snapshot", "save", snapshot]);
      expect(saved.code).toBe(0);
      await source.stop();
    });

    /** `snapshot restore` into `dataDir` for member `name` of `cluster` (name=peer URL). */
    function restoreInto(
      dataDir: string,
      name: string,
      cluster: Record<string, string>,
      extra: readonly string[] = [],
    ): Promise<RunResult> {
      return offline([
        "snapshot",
        "restore",
        snapshot,
        "--data-dir",
        dataDir,
        ...extra,
        "--name",
        name,
        "--initial-cluster",
        Object.entries(cluster).map(([n, url]) => `${n}=${url}`).join(","),
        "--initial-advertise-peer-urls",
        cluster[name],
      ]);
    }

    /** A restore for member `name` of `cluster` that must succeed; its data dir. */
    async function restore(name: string, cluster: Record<string, string>): Promise<string> {
      const dataDir = path.join(dir, `${name}.etcd`);
      const r = await restoreInto(dataDir, name, cluster);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("Error"))).toEqual([]);
      expect(r.code).toBe(0);
      return dataDir;
    }

    /** The member on `dataDir`, started with its data dir, name and own URLs only. */
    function serve(dataDir: string, name: string, peerUrl: string, clientPort: number, quorum: boolean) {
      const clientUrl = `http://127.0.0.1:${clientPort}`;
      return startServer(kind, {
        clientPort,
        dataDir,
        healthCheck: quorum ? "http" : "tcp",
        args: [
          "--data-dir",
          dataDir,
          "--name",
          name,
          "--listen-client-urls",
          clientUrl,
          "--advertise-client-urls",
          clientUrl,
          "--listen-peer-urls",
          peerUrl,
        ],
      });
    }

    test("a wal-dir that cannot be made is an error, not a crash", async () => {
      const notDir = path.join(dir, "not-a-dir");
      fs.writeFileSync(notDir, "");
      const peer = `http://127.0.0.1:${await freePort()}`;
      const r = await restoreInto(path.join(dir, "w.etcd"), "w", { w: peer }, [
        "--wal-dir",
        path.join(notDir, "wal"),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("Error: ")).length).toBe(1);
      expect(r.stderr).not.toContain("Bun v");
    });

    test("one member: it is the member the restore named, with the snapshot's keys", async () => {
      const peer = `http://127.0.0.1:${await freePort()}`;
      const dataDir = await restore("m1", { m1: peer });
      const server = await serve(dataDir, "m1", peer, await freePort(), true);
      const list = await cli(server.endpoint, ["member", "list", "-w", "json"]);
      expect(list.code).toBe(0);
      const members = JSON.parse(list.stdout).members as { name: string; peerURLs: string[] }[];
      expect(members.map((m) => [m.name, m.peerURLs])).toEqual([["m1", [peer]]]);
      expect((await cli(server.endpoint, ["get", "restored", "--print-value-only"])).stdout).toBe("yes\n");
      await server.stop();
    }, 60_000);

    test(
      "three members started without --initial-cluster form the one cluster the restore named",
      async () => {
        const names = ["a", "b", "c"];
        const peers: Record<string, string> = {};
        for (const n of names) peers[n] = `http://127.0.0.1:${await freePort()}`;
        const members: ServerProcess[] = [];
        for (const n of names) {
          const dataDir = await restore(n, peers);
          members.push(await serve(dataDir, n, peers[n], await freePort(), false));
        }
        const endpoints = members.map((m) => m.endpoint);
        await waitFor("the restored cluster to take a write", async () => {
          return (await cli(endpoints.join(","), ["put", "after", "restore"])).code === 0;
        }, { timeoutMs: 30_000 });
        const ids = new Set<string>();
        for (const ep of endpoints) {
          const list = await cli(ep, ["member", "list", "-w", "json"]);
          expect(list.code).toBe(0);
          const roster = JSON.parse(list.stdout).members as {
            ID: unknown;
            name: string;
            peerURLs: string[];
          }[];
          expect(roster.map((m) => [m.name, m.peerURLs]).sort()).toEqual(names.map((n) => [n, [peers[n]]]));
          for (const m of roster) ids.add(String(m.ID));
          expect((await cli(ep, ["get", "restored", "--print-value-only"])).stdout).toBe("yes\n");
        }
        // Three one-member clusters would list three members with different IDs each time.
        expect(ids.size).toBe(3);
        // Each member knew its peers from the restored log at start, so it fast-forwarded its
        // first election once they were reachable, as etcd's members do.
        for (const m of members) {
          await waitFor(
            `${m.endpoint}'s election tick advance`,
            () => m.stderr().includes("fast-forwarding"),
          );
        }
        const status = await cli(endpoints.join(","), ["endpoint", "status", "-w", "json"]);
        const leaders = new Set(
          (JSON.parse(status.stdout) as { Status: { leader: unknown } }[]).map((s) =>
            String(s.Status.leader)
          ),
        );
        expect(leaders.size).toBe(1);
        for (const m of members) {
          await m.stop();
        }
      },
      120_000,
    );
  });
}
