/**
 * Server memory with many idle watchers, etcdts beside the real etcd:
 *   node_modules/.bin/bun tests/watch/idle-memory.bench.ts [watchers=10000] [streams=10]
 * Starts each server fresh, opens the watchers on distinct keys, waits until every one is
 * created, and reports the server's RSS before and after (from /proc).
 */
import * as fs from "node:fs";
import { cleanup, haveRealEtcd, startServer } from "../harness.ts";
import { connect, enc, type WatchSession } from "./session.ts";

const watchers = Number(process.argv[2] ?? 10_000);
const streams = Number(process.argv[3] ?? 10);

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]);
}

for (const kind of haveRealEtcd() ? ["etcd", "etcdts"] as const : ["etcdts"] as const) {
  const server = await startServer(kind);
  await Bun.sleep(1000);
  const before = rssKiB(server.proc.pid);
  const sessions: WatchSession[] = [];
  const conns = Array.from({ length: streams }, () => connect(server.endpoint));
  for (let s = 0; s < streams; s++) sessions.push(conns[s].session());
  for (let i = 0; i < watchers; i++) await sessions[i % streams].create({ key: enc(`idle/${i}`) });
  for (let i = 0; i < watchers; i++) {
    const r = await sessions[i % streams].next(30_000);
    if (!r.created) throw new Error("expected a created answer");
  }
  await Bun.sleep(3000);
  const after = rssKiB(server.proc.pid);
  console.log(
    `${kind}: ${watchers} idle watchers on ${streams} streams: RSS ${(before / 1024).toFixed(1)} MiB -> ${
      (after / 1024).toFixed(1)
    } MiB (+${((after - before) / watchers).toFixed(2)} KiB/watcher)`,
  );
  for (const s of sessions) s.close();
  for (const c of conns) c.client.close();
  await cleanup();
}
