/**
 * Starts a real etcd 3.4 on free loopback ports with a temp data dir, for tests that compare
 * against the reference implementation. Minimal on purpose: tests/harness.ts will replace it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../harness.ts";

/** A running server: where to reach it and how to stop it. */
export interface ServerUnderTest {
  /** "127.0.0.1:port", as passed to --endpoints. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Path of the real etcd binary; ETCD_BIN overrides. */
export const etcdBin = process.env.ETCD_BIN ?? "/usr/bin/etcd";

/** Starts a single-member etcd and waits until it serves gRPC. */
export async function startRealEtcd(): Promise<ServerUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), "etcdts-cli-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = Bun.spawn([
    etcdBin,
    "--name=t",
    `--data-dir=${join(dir, "data")}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=t=${peer}`,
  ], { stdout: "ignore", stderr: "ignore" });
  const stop = async () => {
    proc.kill();
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`${client}/health`);
      if (res.ok && ((await res.json()) as { health?: string }).health === "true") {
        return { endpoint: `127.0.0.1:${clientPort}`, stop };
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  await stop();
  throw new Error("etcd did not become healthy");
}
