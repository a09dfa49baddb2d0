/**
 * Authenticated workloads, paired etcd 3.4 / etcdts rounds (the shared loadgen has no
 * credentials flag, so this drives both servers with our client, the same for both):
 * - put throughput with 64 concurrent callers on 8 connections, auth enabled, as a user
 *   with a readwrite prefix permission (every put passes the permission check);
 * - Authenticate calls/s with 8 concurrent callers (bcrypt cost 10, etcd's default).
 *
 * Prints rates, the server's CPU ms per operation (utime+stime from /proc: the steadier
 * figure on a shared machine) and the load average.
 *
 *   bun bench/auth-bench.ts [rounds=3] [seconds=8] [base-port=25400]
 */
import * as fs from "node:fs";
import { Client } from "../client/client.ts";
import { Auth, KV } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, etcdctl, startServer } from "../tests/harness.ts";

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 8);
/** Servers listen on basePort.. (etcd) and basePort+10.. (etcdts): pass your port block. */
const basePort = Number(process.argv[4] ?? 25400);

async function setup(endpoint: string): Promise<void> {
  for (
    const args of [
      ["user", "add", "root:rootpw"],
      ["user", "add", "u:upw"],
      ["role", "add", "w"],
      ["role", "grant-permission", "w", "readwrite", "--prefix", "k/"],
      ["user", "grant-role", "u", "w"],
      ["auth", "enable"],
    ]
  ) {
    const r = await etcdctl(endpoint, args);
    if (r.code !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  }
}

/** Server CPU seconds so far (utime + stime of the process, from /proc). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in clock ticks
}

/** Runs `body` and returns its operation count per second and the server's CPU ms per operation. */
async function measure(pid: number, body: () => Promise<number>): Promise<{ rate: number; cpuMs: number }> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const ops = await body();
  const wall = (performance.now() - t0) / 1000;
  return { rate: ops / wall, cpuMs: ((cpuSeconds(pid) - cpu0) * 1000) / ops };
}

async function puts(endpoint: string): Promise<number> {
  const clients = Array.from(
    { length: 8 },
    () => new Client({ endpoints: [endpoint], user: { name: "u", password: "upw" } }),
  );
  await Promise.all(clients.map((c) => c.authenticate()));
  const value = new Uint8Array(256);
  let done = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: 64 }, async (_, i) => {
    const kv = clients[i % 8].service(KV);
    const enc = new TextEncoder();
    while (Date.now() < end) {
      await kv.put({ key: enc.encode(`k/${i}/${done % 1000}`), value });
      done++;
    }
  }));
  for (const c of clients) c.close();
  return done;
}

async function authenticates(endpoint: string): Promise<number> {
  const c = new Client({ endpoints: [endpoint] });
  const auth = c.service(Auth);
  let done = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (Date.now() < end) {
      await auth.authenticate({ name: "u", password: "upw" });
      done++;
    }
  }));
  c.close();
  return done;
}

/** Our port block's ports for one server: client, peer. */
function ports(kind: "etcd" | "etcdts"): [number, number] {
  const base = basePort + (kind === "etcd" ? 0 : 10);
  return [base, base + 1];
}

type Row = { round: number; kind: string; put: number; putCpu: number; auth: number; authCpu: number };
const results: Row[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const kind of ["etcd", "etcdts"] as const) {
    const [client, peer] = ports(kind);
    const s = await startServer(kind, { clientPort: client, peerPort: peer });
    await setup(s.endpoint);
    const put = await measure(s.proc.pid, () => puts(s.endpoint));
    const auth = await measure(s.proc.pid, () => authenticates(s.endpoint));
    const row = { round, kind, put: put.rate, putCpu: put.cpuMs, auth: auth.rate, authCpu: auth.cpuMs };
    results.push(row);
    console.log(
      `round ${round} ${kind}: ${put.rate.toFixed(0)} auth'd puts/s (${
        put.cpuMs.toFixed(3)
      } server CPU ms/put), ` +
        `${auth.rate.toFixed(1)} Authenticate/s (${auth.cpuMs.toFixed(1)} ms/call); load ${loadavg()}`,
    );
    await s.stop();
    await cleanup();
  }
}
for (let round = 1; round <= rounds; round++) {
  const [a, b] = results.filter((r) => r.round === round);
  console.log(
    `round ${round} etcdts/etcd: put rate ${(b.put / a.put).toFixed(2)}, put CPU/op ${
      (b.putCpu / a.putCpu).toFixed(2)
    }, authenticate rate ${(b.auth / a.auth).toFixed(2)}, authenticate CPU/op ${
      (b.authCpu / a.authCpu).toFixed(2)
    }`,
  );
}
process.exit(0);

function loadavg(): string {
  return fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
