/**
 * A member is ready only once it has published itself: the moment its /health first says
 * true, `member list` through it already shows its name and client URLs, and its log has
 * etcd's lifecycle lines in etcd's order (zap JSON, as `etcd --logger=zap` writes them).
 * The same steps against etcdts and the real etcd 3.4, for 1-, 3- and 5-member clusters.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as path from "node:path";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  etcdctl,
  freePort,
  type ServerProcess,
  startServer,
  tempDir,
} from "../harness.ts";

afterAll(cleanup);

/** The messages of the zap lines in `stderr`, in order. */
function messages(stderr: string): string[] {
  return stderr.split("\n").flatMap((l) => {
    try {
      return [JSON.parse(l).msg as string];
    } catch {
      return [];
    }
  });
}

async function startMembers(kind: "etcdts" | "etcd", n: number): Promise<ServerProcess[]> {
  const dir = tempDir("ready-");
  const ports = [];
  for (let i = 0; i < n; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initial = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(",");
  return await Promise.all(ports.map((p, i) =>
    startServer(kind, {
      dataDir: path.join(dir, `m${i}`),
      clientPort: p.client,
      peerPort: p.peer,
      healthCheck: "tcp",
      extraArgs: [
        ...["--name", `m${i}`, "--initial-cluster", initial, "--initial-cluster-state", "new"],
        ...["--listen-peer-urls", `http://127.0.0.1:${p.peer}`],
        ...["--initial-advertise-peer-urls", `http://127.0.0.1:${p.peer}`],
        ...["--heartbeat-interval", "50", "--election-timeout", "500"],
        ...(kind === "etcd" ? ["--logger=zap"] : []),
      ],
    })
  ));
}

/** Polls /health until it says true; a member that is not ready may not answer at all. */
async function untilHealthy(m: ServerProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(500) });
      if (r.ok) return;
    } catch {
      // not serving yet
    }
    await Bun.sleep(20);
  }
  throw new Error(`${m.clientUrl} never became healthy`);
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(`readiness on ${kind}`, () => {
    for (const n of [1, 3, 5]) {
      test(`${n} member(s): healthy means published, with etcd's lifecycle lines`, async () => {
        const members = await startMembers(kind, n);
        await Promise.all(members.map(async (m, i) => {
          await untilHealthy(m);
          const r = await etcdctl(m.endpoint, ["member", "list", "-w", "json"]);
          const list = JSON.parse(r.stdout).members as { name?: string; clientURLs?: string[] }[];
          const self = list.find((x) => x.name === `m${i}`);
          expect({ member: i, clientURLs: self?.clientURLs }).toEqual({
            member: i,
            clientURLs: [m.clientUrl],
          });
        }));
        for (const m of members) {
          const msgs = messages(m.stderr());
          const at = (msg: string) => msgs.indexOf(msg);
          expect(at("published local member to cluster through raft")).toBeGreaterThanOrEqual(0);
          expect(at("enabled capabilities for version")).toBeGreaterThanOrEqual(0);
          const serving = at("serving client traffic insecurely; this is strongly discouraged!");
          expect(serving).toBeGreaterThanOrEqual(0);
          // etcd 3.4 lets clients in (closes readych) just before it logs the publication, so
          // its serving line may come first; ours comes after it.
          if (kind === "etcdts") {
            expect(serving).toBeGreaterThan(at("published local member to cluster through raft"));
          }
          expect(msgs.some((x) => /^raft\.node: [0-9a-f]+ elected leader [0-9a-f]+ at term \d+$/.test(x)))
            .toBe(true);
        }
        const leaders = members.filter((m) =>
          messages(m.stderr()).some((x) => / became leader at term \d+$/.test(x))
        );
        expect(leaders.length).toBeGreaterThanOrEqual(1);
      }, 120_000);
    }
  });
}
