/**
 * Starts `etcd grpc-proxy start` / `etcd gateway start` (ours or the real etcd's) on a free
 * loopback port, waits until it accepts connections, and stops it at cleanup.
 */
import { defer, ETCD_BIN, ETCDTS_BIN, freePort, isListening, waitFor } from "../harness.ts";

export interface ProxyProcess {
  /** host:port, for --endpoints. */
  readonly endpoint: string;
  stderr(): string;
  stop(): Promise<void>;
}

/** `<kind> <command> start --listen-addr 127.0.0.1:<free> ...args`. */
export async function startProxy(
  kind: "etcdts" | "etcd",
  command: "grpc-proxy" | "gateway",
  args: readonly string[],
  env?: Record<string, string>,
): Promise<ProxyProcess> {
  const port = await freePort();
  const bin = kind === "etcdts" ? ETCDTS_BIN : ETCD_BIN;
  const proc = Bun.spawn([bin, command, "start", "--listen-addr", `127.0.0.1:${port}`, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    ...(env !== undefined ? { env: { ...process.env, ...env } } : {}),
  });
  let err = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += dec.decode(chunk);
  })();
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const stop = async () => {
    if (!exited()) proc.kill("SIGKILL");
    await proc.exited;
  };
  defer(stop);
  await waitFor(`${kind} ${command} on ${port}`, async () => exited() || await isListening(port));
  if (exited()) throw new Error(`${kind} ${command} exited (${proc.exitCode}): ${err}`);
  return { endpoint: `127.0.0.1:${port}`, stderr: () => err, stop };
}
