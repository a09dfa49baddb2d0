/**
 * Snapshot save and restore of N keys × V-byte values, the real etcd 3.4 against etcdts on
 * this machine: each server is loaded the same way (our client, 64 puts in flight), then
 * its own CLI saves a snapshot from it (right after the load, then once more) and restores
 * that snapshot into a new data dir;
 * etcdts also restores etcd's snapshot (the import path). Prints wall seconds and sizes.
 * Run it on a quiet machine (bench/snapshot.sh builds first).
 *
 *   bun bench/snapshot-bench.ts [keys=100000] [value-bytes=256] [base-port=25600]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Client } from "../client/client.ts";
import { KV } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, ETCDCTL_BIN, ETCDTS_BIN, run, startServer, tempDir } from "../tests/harness.ts";

const keys = Number(process.argv[2] ?? 100_000);
const valueBytes = Number(process.argv[3] ?? 256);
/** etcd listens on basePort/+1, etcdts on basePort+10/+11; restores name peer basePort+20. */
const basePort = Number(process.argv[4] ?? 25600);

async function load(endpoint: string): Promise<void> {
  const client = new Client({ endpoints: [endpoint], callTimeoutMs: 60_000 });
  const kv = client.service(KV);
  const value = new Uint8Array(valueBytes).fill(0x61);
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < keys) {
      const i = next++;
      await kv.put({ key: new TextEncoder().encode(`bench/${String(i).padStart(8, "0")}`), value });
    }
  }));
  client.close();
}

/** Runs a CLI command, failing loudly; its wall seconds. */
async function timed(cmd: string[]): Promise<number> {
  const start = performance.now();
  const r = await run(cmd, { env: { ETCDCTL_API: "3" }, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${cmd.join(" ")}: exit ${r.code}\n${r.stderr}`);
  return (performance.now() - start) / 1000;
}

const peer = `http://127.0.0.1:${basePort + 20}`;
const restoreFlags = (dataDir: string) => [
  "--data-dir",
  dataDir,
  "--name",
  "n1",
  "--initial-cluster",
  `n1=${peer}`,
  "--initial-advertise-peer-urls",
  peer,
];

const dir = tempDir("etcdts-snapshot-bench-");
const rows: [string, string][] = [];
try {
  const snaps: Record<string, string> = {};
  for (
    const [kind, bin, port] of [["etcd", ETCDCTL_BIN, basePort], [
      "etcdts",
      ETCDTS_BIN,
      basePort + 10,
    ]] as const
  ) {
    const server = await startServer(kind, { clientPort: port, peerPort: port + 1 });
    await load(server.endpoint);
    const file = path.join(dir, `${kind}.db`);
    const save = await timed([bin, `--endpoints=${server.endpoint}`, "snapshot", "save", file]);
    // The first save overlaps what the server still does after a bulk load (etcdts: its idle
    // collection); a second one shows a settled server.
    const again = await timed([bin, `--endpoints=${server.endpoint}`, "snapshot", "save", `${file}.2`]);
    await server.stop();
    snaps[kind] = file;
    const restore = await timed([
      bin,
      "snapshot",
      "restore",
      file,
      ...restoreFlags(path.join(dir, `${kind}-r`)),
    ]);
    rows.push([`${kind} save`, `${save.toFixed(2)} s, ${(fs.statSync(file).size / 1e6).toFixed(1)} MB`]);
    rows.push([`${kind} save again`, `${again.toFixed(2)} s`]);
    rows.push([`${kind} restore`, `${restore.toFixed(2)} s`]);
  }
  const cross = await timed([
    ETCDTS_BIN,
    "snapshot",
    "restore",
    snaps.etcd,
    ...restoreFlags(path.join(dir, "x")),
  ]);
  rows.push(["etcdts restore of etcd's snapshot", `${cross.toFixed(2)} s`]);
} finally {
  await cleanup();
}
console.log(`${keys} keys × ${valueBytes} B`);
for (const [what, figure] of rows) console.log(`${what.padEnd(36)} ${figure}`);
