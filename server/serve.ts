/**
 * `etcdts serve` (or the binary invoked as `etcd`): parse etcd's flags, open the data
 * directory, replay the log into the store, serve clients, stop cleanly on a signal.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Auth, Cluster, KV, Lease, Maintenance, Watch } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { Lock } from "../proto/gen/v3lockpb/v3lock_pb.ts";
import { Election } from "../proto/gen/v3electionpb/v3election_pb.ts";
import { parseServerArgs, type ServerConfig, serverUsage } from "./config.ts";
import { GrpcServer } from "./grpc/server.ts";
import { clusterId, idHex, memberId } from "./ids.ts";
import { Member } from "./member.ts";
import { MvccStore } from "../store/mvcc.ts";
import { Wal } from "../wal/wal.ts";
import { kvService } from "./services/kv.ts";
import { clusterService, memberMessage } from "./services/cluster.ts";
import { maintenanceService } from "./services/maintenance.ts";
import { watchService } from "./services/watch.ts";
import { httpApp } from "./http.ts";
import { listenClient, type Listening } from "./listen.ts";
import { ETCDTS_VERSION, SERVER_VERSION } from "./version.ts";
import { log } from "./log.ts";
import { PeerTransport } from "./peer.ts";
import { tokenProvider } from "./auth/tokens.ts";
import { AuthGuard } from "./auth/guard.ts";
import { authService } from "./services/auth.ts";
import { serverTls } from "./tls.ts";

export interface Io {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** A running server; `stop()` ends it cleanly. */
export interface RunningServer {
  readonly member: Member;
  readonly listening: readonly Listening[];
  stop(): Promise<void>;
}

/** Entry point for `etcdts serve ARGS`; resolves with the exit code once the server stops. */
export async function serveMain(args: readonly string[], io: Io): Promise<number> {
  const parsed = parseServerArgs(args, process.env);
  switch (parsed.kind) {
    case "help":
      io.stdout.write(serverUsage());
      return 0;
    case "version":
      io.stdout.write(
        `etcd Version: ${SERVER_VERSION}\netcdts Version: ${ETCDTS_VERSION}\nGo Version: none (Bun ${Bun.version})\n`,
      );
      return 0;
    case "error":
      io.stderr.write(`etcdts: ${parsed.message}\n`);
      return 1;
  }
  for (const w of parsed.warnings) log.warn(w);
  let server: RunningServer;
  try {
    server = await startServer(parsed.config);
  } catch (e) {
    io.stderr.write(`etcdts: ${(e as Error).message}\n`);
    return 1;
  }
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`received ${sig}, shutting down`);
      server.stop().then(() => resolve(0), () => resolve(1));
    };
    process.once("SIGINT", () => onSignal("SIGINT"));
    process.once("SIGTERM", () => onSignal("SIGTERM"));
  });
}

/** Opens the data dir and starts serving; used by `serveMain` and in-process tests. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  if (config.initialClusterState === "existing") {
    throw new Error(
      "--initial-cluster-state existing is not supported by etcdts yet (member add comes next)",
    );
  }
  const memberDir = path.join(config.dataDir, "member");
  fs.mkdirSync(path.join(memberDir, "snap"), { recursive: true, mode: 0o700 });
  const roster = initialRoster(config);
  // config checked that --initial-cluster names us with our --initial-advertise-peer-urls.
  const ids = {
    memberId: roster.find((m) => m.name === config.name)!.id,
    clusterId: clusterId(roster.map((m) => m.id)),
  };
  const wal = Wal.open(config.walDir || path.join(memberDir, "wal"), { meta: ids });
  const meta = wal.replay.meta;
  if (meta !== null && (meta.memberId !== ids.memberId || meta.clusterId !== ids.clusterId)) {
    // The data dir decides who we are once it exists, as in etcd.
    log.info(`data dir belongs to member ${idHex(meta.memberId)} of cluster ${idHex(meta.clusterId)}`);
  }
  const who = meta ?? ids;
  if (wal.replay.truncatedBytes > 0) log.warn(`cut ${wal.replay.truncatedBytes} bytes of a torn log tail`);
  const tokens = tokenProvider(config.authToken, { ttlSeconds: config.authTokenTtl });
  if (typeof tokens === "string") throw new Error(tokens);
  const clientTls = serverTls(config.clientTls, {
    dataDir: config.dataDir,
    side: "client",
    hosts: config.listenClientUrls.map((u) => u.hostname),
  });
  const store = MvccStore.open(path.join(memberDir, "snap", "db"));
  // Before the member replays the log: simple tokens are learnt from applied entries.
  store.auth.listen(tokens);
  const guard = new AuthGuard({ auth: store.auth, tokens, clientCertAuth: config.clientTls.clientCertAuth });
  // The transport delivers to the member, which sends through the transport: tie the knot.
  let receiver: Member | null = null;
  const transport = new PeerTransport({
    clusterId: who.clusterId,
    memberId: who.memberId,
    peers: new Map(roster.map((m) => [m.id, m.peerUrls])),
    onMessage: (m) => receiver?.step(m),
    onUnreachable: (id) => receiver?.reportUnreachable(id),
  });
  const member = new Member({
    memberId: who.memberId,
    clusterId: who.clusterId,
    wal,
    store,
    maxRequestBytes: config.maxRequestBytes,
    initialVoters: roster.map((m) => m.id),
    send: (msgs) => transport.send(msgs),
    heartbeatMs: config.heartbeatIntervalMs,
    electionMs: config.electionTimeoutMs,
    preVote: config.preVote,
  });
  receiver = member;
  const stopping = new AbortController();

  // grpc-go accepts messages up to the request limit plus 512 KiB of overhead, and etcd
  // answers "request is too large" for what lies between; we do the same.
  const grpc = new GrpcServer({
    maxRecvMessageBytes: config.maxRequestBytes + 512 * 1024,
    guard: (path, req, ctx) => guard.check(path, req, ctx),
  });
  grpc.addService(KV, kvService({ member, store, maxTxnOps: config.maxTxnOps }));
  const self = memberMessage({
    id: who.memberId,
    name: config.name,
    peerUrls: config.initialAdvertisePeerUrls,
    clientUrls: config.advertiseClientUrls,
  });
  const others = roster.filter((m) => m.id !== who.memberId).map((m) =>
    memberMessage({ id: m.id, name: m.name, peerUrls: m.peerUrls, clientUrls: [] })
  );
  grpc.addService(Cluster, clusterService({ member, store, members: () => [self, ...others] }));
  grpc.addService(
    Maintenance,
    maintenanceService({ member, store, quotaBackendBytes: config.quotaBackendBytes }),
  );
  grpc.addService(
    Watch,
    watchService({
      member,
      store,
      maxRequestBytes: config.maxRequestBytes,
      progressNotifyInterval: config.watchProgressNotifyInterval,
      stopping: stopping.signal,
      guard,
    }),
  );
  grpc.addService(Lease, {});
  grpc.addService(Auth, authService({ member, store, tokens, bcryptCost: config.bcryptCost }));
  grpc.addService(Lock, {});
  grpc.addService(Election, {});
  const app = httpApp({ unhealthyReason: () => null });

  const listening: Listening[] = [];
  try {
    if (roster.length > 1) { for (const url of config.listenPeerUrls) await transport.listen(url); }
    for (const url of config.listenClientUrls) {
      listening.push(
        await listenClient(url, {
          onStream: grpc.onStream,
          fetch: app.fetch,
          maxConcurrentStreams: config.maxConcurrentStreams,
          tls: url.protocol === "https:" ? clientTls : null,
        }),
      );
    }
  } catch (e) {
    stopping.abort();
    for (const l of listening) await l.close();
    await transport.close();
    await member.stop();
    store.close();
    throw new Error(`listen failed: ${(e as Error).message}`);
  }
  log.info(
    `serving client requests on ${config.listenClientUrls.map((u) => u.href).join(", ")} as member ${
      idHex(who.memberId)
    } of cluster ${idHex(who.clusterId)}, data in ${config.dataDir}`,
  );
  return {
    member,
    listening,
    async stop() {
      stopping.abort();
      for (const l of listening) await l.close();
      await transport.close();
      await member.stop();
      store.close();
    },
  };
}

/** The members of a new cluster as --initial-cluster names them, with etcd's derived IDs. */
function initialRoster(config: ServerConfig): { id: bigint; name: string; peerUrls: readonly string[] }[] {
  return [...config.initialCluster].map(([name, urls]) => ({
    id: memberId(urls, { clusterToken: config.initialClusterToken }),
    name,
    peerUrls: urls,
  }));
}
