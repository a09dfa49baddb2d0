/**
 * Authenticated workloads, paired etcd 3.4 / etcdts rounds (the shared loadgen has no
 * credentials flag, so this drives both servers with our client, the same for both):
 * - put throughput with 64 concurrent callers on 8 connections, auth enabled, as a user
 *   with a readwrite prefix permission (every put passes the permission check);
 * - Authenticate calls/s with 8 concurrent callers (bcrypt cost 10, etcd's default).
 *
 *   bun bench/auth-bench.ts [rounds=2] [seconds=8]
 */
import { Client } from "../client/client.ts";
import { Auth, KV } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, etcdctl, startServer } from "../tests/harness.ts";

const rounds = Number(process.argv[2] ?? 2);
const seconds = Number(process.argv[3] ?? 8);

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

async function putRate(endpoint: string): Promise<number> {
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
  return done / seconds;
}

async function authRate(endpoint: string): Promise<number> {
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
  return done / seconds;
}

const results: { round: number; kind: string; put: number; auth: number }[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const kind of ["etcd", "etcdts"] as const) {
    const s = await startServer(kind);
    await setup(s.endpoint);
    const put = await putRate(s.endpoint);
    const auth = await authRate(s.endpoint);
    results.push({ round, kind, put, auth });
    console.log(`round ${round} ${kind}: ${put.toFixed(0)} auth'd puts/s, ${auth.toFixed(1)} Authenticate/s`);
    await s.stop();
    await cleanup();
  }
}
for (let round = 1; round <= rounds; round++) {
  const [a, b] = results.filter((r) => r.round === round);
  console.log(
    `round ${round} ratio etcdts/etcd: put ${(b.put / a.put).toFixed(2)}, authenticate ${
      (b.auth / a.auth).toFixed(2)
    }`,
  );
}
process.exit(0);
