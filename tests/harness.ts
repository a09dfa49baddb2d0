/**
 * The one place tests start servers and run commands: the compiled binary (or the real
 * etcd/etcdctl), on free loopback ports, in temp dirs that are removed afterwards.
 * Tests read like what a user does: start a server, run a command, look at the output.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { Subprocess } from "bun";
import { PeerProxy } from "./peer-proxy.ts";
import { GrpcError } from "../client/status.ts";

export const ROOT = path.resolve(import.meta.dir, "..");
/** The binary under test: `dist/etcdts` (built by `npm test`), or ETCDTS_BIN. */
export const ETCDTS_BIN = process.env.ETCDTS_BIN ?? path.join(ROOT, "dist", "etcdts");
export const ETCD_BIN = process.env.ETCD_BIN ?? "/usr/bin/etcd";
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? "/usr/bin/etcdctl";

/**
 * True when the real etcd is installed (the conformance suites need it). On a developer's
 * machine without it those suites run against etcdts alone; under CI (`CI` set, as
 * scripts/test.sh's CI sets it) a missing etcd throws, so every suite fails loudly instead
 * of quietly testing one side.
 */
export function haveRealEtcd(): boolean {
  const found = fs.existsSync(ETCD_BIN) && fs.existsSync(ETCDCTL_BIN);
  if (!found && isCi(process.env)) {
    throw new Error(
      `CI needs the real etcd for the conformance suites: ${ETCD_BIN} or ${ETCDCTL_BIN} is missing ` +
        "(scripts/test.sh installs etcd-server and etcd-client with apt)",
    );
  }
  return found;
}

/** Whether this run is CI's: `CI` set to anything but empty, 0 or false. */
function isCi(env: NodeJS.ProcessEnv): boolean {
  return !["", "0", "false"].includes((env.CI ?? "").toLowerCase());
}

const cleanups: (() => void | Promise<void>)[] = [];

/** Runs everything registered with `defer`, newest first. Call from afterAll/afterEach. */
export async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

/** Registers something to undo at `cleanup()`. */
export function defer(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}

/** A fresh temp dir, removed at cleanup. */
export function tempDir(prefix = "etcdts-test-"): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The servers a conformance suite runs against: etcdts, and the real etcd when installed. */
export const CONFORMANCE_TARGETS: readonly ("etcdts" | "etcd")[] = haveRealEtcd()
  ? ["etcdts", "etcd"]
  : ["etcdts"];

/** The gRPC code and message a call failed with; throws if it succeeded or failed otherwise. */
export async function errorOf(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GrpcError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected an error");
}

/**
 * Ports this test process has handed out. Never twice: the members of one cluster ask for
 * their ports before any of them binds.
 */
const handedOut = new Set<number>();
/**
 * Below Linux's ephemeral range (32768–60999), where every outgoing connection (a CLI run,
 * a member dialing a peer) takes its local port: a port found free there could be taken by
 * a connection before the server that was given it binds it, and that server would die.
 */
const TEST_PORTS = { first: 20_000, count: 12_000 } as const;

/** A loopback port that was free a moment ago and that no other test of this process got. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 1000; tries++) {
    const port = TEST_PORTS.first + Math.floor(Math.random() * TEST_PORTS.count);
    if (handedOut.has(port)) continue;
    handedOut.add(port); // busy ones too: whoever holds them keeps them
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port in ${TEST_PORTS.first}-${TEST_PORTS.first + TEST_PORTS.count - 1}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** Waits for `cond` to hold, polling; throws with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(opts.intervalMs ?? 50);
  }
}

/** A server process under test. */
export interface ServerProcess {
  readonly kind: "etcdts" | "etcd";
  /** host:port, as etcdctl's --endpoints takes it. */
  readonly endpoint: string;
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly proc: Subprocess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM and wait. */
  stop(): Promise<number>;
  /** SIGKILL and wait: a crash. */
  kill9(): Promise<void>;
}

export interface StartOptions {
  /** Reuse a data dir (restart); default a new temp dir. */
  readonly dataDir?: string;
  readonly clientPort?: number;
  /** The peer port (default a free one); benchmarks keep it inside their port block. */
  readonly peerPort?: number;
  readonly extraArgs?: readonly string[];
  readonly env?: Record<string, string>;
  /** "http": wait for /health (a single member); "tcp": wait for the port (a member that needs peers). */
  readonly healthCheck?: "http" | "tcp";
  /** "https": the client URL is https:// (pass the TLS flags in extraArgs); health is checked on TCP. */
  readonly clientScheme?: "http" | "https";
  /**
   * Exactly these arguments instead of the usual ones (e.g. a `--config-file` that names
   * everything): give the clientPort and dataDir they name.
   */
  readonly args?: readonly string[];
}

async function isHealthy(url: string): Promise<boolean> {
  const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
  return r.ok;
}

/** Whether something accepts TCP connections on the loopback port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Starts `etcdts serve` (or the real etcd) on free loopback ports and waits until healthy. */
export async function startServer(kind: "etcdts" | "etcd", opts: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? path.join(tempDir(`${kind}-`), "data");
  const clientPort = opts.clientPort ?? await freePort();
  const peerPort = opts.peerPort ?? await freePort();
  const clientUrl = `${opts.clientScheme ?? "http"}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const member = opts.extraArgs?.includes("--initial-cluster") ? [] : [
    "--name",
    "n1",
    "--listen-peer-urls",
    peerUrl,
    "--initial-advertise-peer-urls",
    peerUrl,
    "--initial-cluster",
    `n1=${peerUrl}`,
  ];
  const args = opts.args ?? [
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    clientUrl,
    "--advertise-client-urls",
    clientUrl,
    ...member,
    ...(opts.extraArgs ?? []),
  ];
  const cmd = kind === "etcdts" ? [ETCDTS_BIN, "serve", ...args] : [ETCD_BIN, ...args];
  const proc = Bun.spawn(cmd, {
    stdout: "ignore",
    stderr: "pipe",
    // The JIT warm-up only makes a server start 0.8 s later; tests/server/warmup.test.ts
    // covers it.
    env: {
      ...cleanEnv(),
      ...(kind === "etcdts" ? { ETCD_EXPERIMENTAL_JIT_WARMUP: "false" } : {}),
      ...opts.env,
    },
  });
  const err = collected(proc.stderr as ReadableStream<Uint8Array>);
  const server: ServerProcess = {
    kind,
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    dataDir,
    proc,
    stderr: err,
    async stop() {
      proc.kill("SIGTERM");
      return await proc.exited;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  defer(async () => {
    if (!exited()) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
  });
  try {
    await waitFor(`${kind} on ${clientUrl} to be healthy`, async () => {
      if (exited()) return true; // no use waiting: reported below, with its stderr
      return opts.healthCheck === "tcp" || opts.clientScheme === "https"
        ? await isListening(clientPort)
        : await isHealthy(clientUrl);
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- ${kind} stderr ---\n${err()}`);
  }
  if (exited()) {
    await Bun.sleep(100); // the last of its stderr
    throw new Error(
      `${kind} on ${clientUrl} exited (${
        proc.exitCode ?? proc.signalCode
      }) while starting\n--- ${kind} stderr ---\n${err()}`,
    );
  }
  return server;
}

/** What `stream` has delivered so far, read in the background: a process's stderr, say. */
export function collected(stream: ReadableStream<Uint8Array>): () => string {
  let text = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) text += dec.decode(chunk);
  })();
  return () => text;
}

/** The environment without ETCD_/ETCDCTL_ variables, so tests do not inherit a user's settings. */
export function cleanEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("ETCD_") && !k.startsWith("ETCDCTL_")) out[k] = v;
  }
  return out;
}

/** What a finished command printed and returned. */
export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Runs a command to completion with optional stdin. */
export async function run(
  cmd: readonly string[],
  opts: { stdin?: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  const proc = Bun.spawn([...cmd], {
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...cleanEnv(), ...opts.env },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

/** Our CLI against `endpoint`. */
export function etcdts(
  endpoint: string,
  args: readonly string[],
  opts: { stdin?: string } = {},
): Promise<RunResult> {
  return run([ETCDTS_BIN, `--endpoints=${endpoint}`, ...args], opts);
}

/** The real etcdctl against `endpoint`. */
export function etcdctl(
  endpoint: string,
  args: readonly string[],
  opts: { stdin?: string } = {},
): Promise<RunResult> {
  return run([ETCDCTL_BIN, `--endpoints=${endpoint}`, ...args], { ...opts, env: { ETCDCTL_API: "3" } });
}

/** A cluster of `etcdts serve` (or real etcd) members on loopback. */
export interface ClusterProcess {
  readonly members: ServerProcess[];
  /** Every member's client endpoint, for --endpoints. */
  readonly endpoints: string[];
  /** Member names (m0, m1, ...), by index. */
  readonly names: string[];
  /** Restarts member `i` (after a stop or kill) with its data dir, and more flags if given. */
  restart(i: number, extraArgs?: readonly string[]): Promise<ServerProcess>;
  /**
   * `member add` a new member through the CLI and start it with the printed
   * ETCD_INITIAL_CLUSTER and --initial-cluster-state existing, as an operator does.
   */
  addMember(
    opts?: {
      learner?: boolean;
      extraArgs?: readonly string[];
      /** More flags for the `member add` call (e.g. --user once auth is on). */
      cliArgs?: readonly string[];
      /** The members (indexes) the `member add` call goes to; default all. */
      via?: readonly number[];
    },
  ): Promise<{ index: number; id: string; member: ServerProcess }>;
  /**
   * Cuts every link between the given groups of member indexes (needs `proxy: true`);
   * members in no group are cut off from everyone.
   */
  partition(groups: number[][]): void;
  /** Restores every link. */
  heal(): void;
  /** Member IDs (hex) by index, from member list. */
  memberIds(): Promise<string[]>;
}

export interface ClusterOptions {
  /** The server every member runs (default etcdts). */
  readonly kind?: "etcdts" | "etcd";
  /** Put a fault-injecting proxy in front of every peer port (for partitions). */
  readonly proxy?: boolean;
  /** More flags for every member (e.g. --snapshot-count). */
  readonly extraArgs?: readonly string[];
  /** https peer URLs (give the --peer-* TLS flags in extraArgs). */
  readonly peerScheme?: "http" | "https";
  /**
   * A snapshot file each member's data dir is first restored from (`etcdts snapshot
   * restore` with the cluster's flags), as an operator restores a cluster.
   */
  readonly restoreFrom?: string;
}

interface MemberSpec {
  name: string;
  client: string;
  /** The URL members listen on for peers. */
  listenPeer: string;
  /** The URL the cluster knows the member by (the proxy's when proxied). */
  peer: string;
  dataDir: string;
  proxy: PeerProxy | null;
  initialCluster: string;
  state: "new" | "existing";
}

/** Starts an n-member cluster (`--initial-cluster` of all members) and waits for all. */
export async function startCluster(n: number, opts: ClusterOptions = {}): Promise<ClusterProcess> {
  const dir = tempDir("etcdts-cluster-");
  const specs: MemberSpec[] = [];
  const newSpec = async (i: number): Promise<MemberSpec> => {
    const [client, listenPeer, proxyPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const listen = `${opts.peerScheme ?? "http"}://127.0.0.1:${listenPeer}`;
    const proxy = opts.proxy ? PeerProxy.start(proxyPort, listen) : null;
    if (proxy !== null) defer(() => proxy.stop());
    return {
      name: `m${i}`,
      client: `http://127.0.0.1:${client}`,
      listenPeer: listen,
      peer: proxy?.url ?? listen,
      dataDir: path.join(dir, `m${i}`),
      proxy,
      initialCluster: "",
      state: "new",
    };
  };
  for (let i = 0; i < n; i++) specs.push(await newSpec(i));
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(",");
  for (const s of specs) s.initialCluster = initialCluster;
  const start = (i: number, more: readonly string[] = []) => {
    const s = specs[i];
    return startMember(opts.kind ?? "etcdts", {
      dataDir: s.dataDir,
      clientUrl: s.client,
      args: [
        "--name",
        s.name,
        "--listen-peer-urls",
        s.listenPeer,
        "--initial-advertise-peer-urls",
        s.peer,
        "--initial-cluster",
        s.initialCluster,
        "--initial-cluster-state",
        s.state,
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
        ...(opts.extraArgs ?? []),
        ...more,
      ],
    });
  };
  const snapshot = opts.restoreFrom;
  for (const s of snapshot === undefined ? [] : specs) {
    const r = await run([
      ETCDTS_BIN,
      "snapshot",
      "restore",
      snapshot as string,
      "--name",
      s.name,
      "--data-dir",
      s.dataDir,
      "--initial-advertise-peer-urls",
      s.peer,
      "--initial-cluster",
      initialCluster,
    ]);
    if (r.code !== 0) throw new Error(`snapshot restore for ${s.name} failed (exit ${r.code}): ${r.stderr}`);
  }
  const members = await Promise.all(specs.map((_, i) => start(i)));
  const endpoints = members.map((m) => m.endpoint);
  const ids = async (): Promise<string[]> => {
    const r = await run([ETCDTS_BIN, `--endpoints=${endpoints.join(",")}`, "member", "list", "-w", "json"]);
    if (r.code !== 0) throw new Error(`member list failed: ${r.stderr}`);
    const list = JSON.parse(r.stdout).members as { ID: bigint | number; peerURLs: string[] }[];
    // JSON numbers lose precision beyond 2^53: read the IDs from the text instead.
    const raw = [...r.stdout.matchAll(/"ID":(\d+)/g)].map((m) => BigInt(m[1]).toString(16));
    return specs.map((s) => {
      const at = list.findIndex((m) => m.peerURLs.includes(s.peer));
      return at < 0 ? "" : raw[at];
    });
  };
  const cluster: ClusterProcess = {
    members,
    endpoints,
    names: specs.map((s) => s.name),
    async restart(i, extraArgs = []) {
      members[i] = await start(i, extraArgs);
      return members[i];
    },
    async addMember(addOpts = {}) {
      const index = specs.length;
      const s = await newSpec(index);
      const r = await run([
        ETCDTS_BIN,
        `--endpoints=${(addOpts.via?.map((i) => endpoints[i]) ?? endpoints).join(",")}`,
        "member",
        "add",
        s.name,
        `--peer-urls=${s.peer}`,
        ...(addOpts.learner ? ["--learner"] : []),
        ...(addOpts.cliArgs ?? []),
      ]);
      if (r.code !== 0) throw new Error(`member add failed: ${r.stderr}`);
      const id = /Member\s+([0-9a-f]+) added/.exec(r.stdout)?.[1] ?? "";
      s.initialCluster = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(r.stdout)?.[1] ?? "";
      s.state = "existing";
      specs.push(s);
      this.names.push(s.name);
      const member = await start(index, addOpts.extraArgs);
      members.push(member);
      endpoints.push(member.endpoint);
      return { index, id, member };
    },
    partition(groups) {
      const idsByIndex = cachedIds;
      if (idsByIndex === null) throw new Error("partition: call memberIds() first");
      const groupOf = new Map<string, number>();
      groups.forEach((g, gi) => g.forEach((i) => groupOf.set(idsByIndex[i], gi)));
      specs.forEach((s, i) => {
        if (s.proxy === null) throw new Error("partition needs startCluster(n, { proxy: true })");
        const mine = groupOf.get(idsByIndex[i]);
        s.proxy.setFilter((from) => mine !== undefined && groupOf.get(from) === mine);
      });
    },
    heal() {
      for (const s of specs) s.proxy?.setFilter(() => true);
    },
    async memberIds() {
      cachedIds = await ids();
      return cachedIds;
    },
  };
  let cachedIds: string[] | null = null;
  return cluster;
}

/** Starts one member with the given client URL and extra args. */
async function startMember(
  kind: "etcdts" | "etcd",
  opts: { dataDir: string; clientUrl: string; args: string[] },
): Promise<ServerProcess> {
  const u = new URL(opts.clientUrl);
  return await startServer(kind, {
    dataDir: opts.dataDir,
    clientPort: Number(u.port),
    extraArgs: opts.args,
    healthCheck: "tcp",
  });
}
