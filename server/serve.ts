/**
 * `etcdts serve` (or the binary invoked as `etcd`): parse etcd's flags, open the data
 * directory, replay the log into the store, serve clients, stop cleanly on a signal.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { IdleGc } from "./idle_gc.ts";
import { Lifecycle } from "./lifecycle.ts";
import { cipherOptions } from "./cipher_suites.ts";
import { PeerInbox } from "./peer_inbox.ts";
import { AlarmType, Auth, Cluster, KV, Lease, Maintenance, Watch } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { Lock } from "../proto/gen/v3lockpb/v3lock_pb.ts";
import { Election } from "../proto/gen/v3electionpb/v3election_pb.ts";
import type { ServerConfig } from "./config.ts";
import { GRPC_OVERHEAD_BYTES, GrpcServer } from "./grpc/server.ts";
import { maxJsonBytes } from "./gateway/body.ts";
import { idHex } from "./ids.ts";
import { Member } from "./member.ts";
import { type MemberRecord, MvccStore } from "../store/mvcc.ts";
import { SCHEMA_VERSION } from "../store/schema.ts";
import { StateMachine } from "./apply/state_machine.ts";
import { WatchHub } from "./watch/hub.ts";
import { responseHeader } from "./header.ts";
import { create } from "@bufbuild/protobuf";
import { InternalRaftRequestSchema } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { isEtcdError } from "../api/errors.ts";
import { bootstrapContexts, memberChangeOf } from "./conf-change.ts";
import { decodeConfChange, type Entry, EntryType } from "../raft/mod.ts";
import { initialRoster, newClusterIds } from "./bootstrap_log.ts";
import { joinCluster } from "./join.ts";
import { forceStandalone } from "./force_new_cluster.ts";
import { Wal } from "../wal/wal.ts";
import { kvService } from "./services/kv.ts";
import { clusterService, promoteHere } from "./services/cluster.ts";
import { maintenanceService } from "./services/maintenance.ts";
import { moveLeaderService } from "./services/move-leader.ts";
import { watchService, type WatchStats } from "./services/watch.ts";
import { httpApp } from "./http.ts";
import { isSecure, listenAddress, listenClient, type Listening } from "./listen.ts";
import { serveH2Fetch } from "./h2-fetch.ts";
import { CLUSTER_VERSION } from "../api/version.ts";
import { errorFields, log } from "./log.ts";
import { slowApplyWarner } from "./slow_apply.ts";
import { type PeerTls, PeerTransport } from "./peer.ts";
import { setupLeases } from "./lease/setup.ts";
import { Keyspace } from "./concurrency/keyspace.ts";
import { sessionLeases } from "./concurrency/session.ts";
import { lockService } from "./services/lock.ts";
import { electionService } from "./services/election.ts";
import { tokenProvider } from "./auth/tokens.ts";
import { AuthGuard } from "./auth/guard.ts";
import { authService } from "./services/auth.ts";
import { peerExposure, serverTls } from "./tls.ts";
import { etcdMetrics } from "./metrics/etcd.ts";
import { removeStaleSnapshotFiles } from "./snapshot_stream.ts";
import { unhealthyReason } from "./health.ts";
import { promoteAtLeader, servePromoteRoute } from "./promote_forward.ts";
import { clientWebRoutes, listenMetrics } from "./web.ts";
import { startMaintenance } from "./maintenance_setup.ts";
import { withQuota } from "./quota.ts";
import { corruptionChecks, DataInconsistency } from "./corrupt/checker.ts";
import { watchIntegrity } from "./corrupt/integrity.ts";
import { learnerAdmission } from "./learner.ts";

/** A running server; `stop()` ends it cleanly. */
export interface RunningServer {
  readonly member: Member;
  readonly listening: readonly Listening[];
  /** Resolves once the member has published itself and serves its client URLs. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/** Opens the data dir and starts serving; used by `serveMain` (serve_main.ts) and in-process tests. */
export async function startServer(
  config: ServerConfig,
  hooks: { onRemoved?: () => void } = {},
): Promise<RunningServer> {
  const memberDir = path.join(config.dataDir, "member");
  fs.mkdirSync(path.join(memberDir, "snap"), { recursive: true, mode: 0o700 });
  // Store copies on their way to or from a peer when we last stopped are of no use now.
  for (const f of fs.readdirSync(path.join(memberDir, "snap"))) {
    if (/^(in|out)-.*\.db$/.test(f)) fs.rmSync(path.join(memberDir, "snap", f), { force: true });
  }
  const walDir = config.walDir || path.join(memberDir, "wal");
  const roster = initialRoster(config);
  const peerTls = peerTlsOf(config);
  const hadLog = Wal.exists(walDir);
  let ids: { memberId: bigint; clusterId: bigint };
  let bootstrap: readonly MemberRecord[] = [];
  if (hadLog) {
    ids = { memberId: 0n, clusterId: 0n }; // the log's metadata decides below
  } else if (config.initialClusterState === "existing") {
    const joined = await joinCluster({
      peerUrls: roster.flatMap((m) => m.peerUrls),
      selfPeerUrls: config.initialAdvertisePeerUrls,
      timeoutMs: 5000,
      tls: peerTls?.client,
    });
    if (joined instanceof Error) throw joined;
    ids = { memberId: joined.memberId, clusterId: joined.clusterId };
    bootstrap = joined.members;
  } else {
    // config checked that --initial-cluster names us with our --initial-advertise-peer-urls.
    ids = newClusterIds(roster, config.name);
    bootstrap = roster;
  }
  let wal = Wal.open(walDir, { meta: ids });
  const who = wal.replay.meta ?? ids;
  if (wal.replay.truncatedBytes > 0) log.warn(`cut ${wal.replay.truncatedBytes} bytes of a torn log tail`);
  const tokens = tokenProvider(config.authToken, { ttlSeconds: config.authTokenTtl });
  if (typeof tokens === "string") throw new Error(tokens);
  const clientTls = serverTls(config.clientTls, {
    dataDir: config.dataDir,
    side: "client",
    hosts: config.listenClientUrls.map((u) => u.hostname),
  });
  // Every part started from here on is stopped by `parts`, newest first, on any failure too.
  const parts = new Lifecycle();
  const snapDir = path.join(memberDir, "snap");
  const opening = performance.now();
  let converting = false;
  const store = parts.add(
    "the store",
    MvccStore.open(path.join(snapDir, "db"), {
      onConvert: (fromVersion) => {
        converting = true;
        log.info("converting the store to the current layout, once", {
          "from-schema-version": fromVersion,
          "to-schema-version": SCHEMA_VERSION,
        });
      },
      readThreads: config.readThreads,
      compactionBatchLimit: config.compactionBatchLimit,
      onReadThreadFailure: (message) =>
        log.warn("read threads failed; reads continue on the main thread", { error: message }),
      onReadThreadsServing: () =>
        log.info("read threads serving large ranges", { threads: config.readThreads }),
    }),
    (s) => s.close(),
  );
  if (converting) {
    log.info("converted the store", { took: `${(performance.now() - opening).toFixed(0)}ms` });
  }
  for (const name of removeStaleSnapshotFiles(snapDir)) {
    log.info("removed a snapshot file left by a stopped member", { path: path.join(snapDir, name) });
  }
  const state = new StateMachine(store);
  // Without a log there is nothing to force: the member starts as its flags say, as in etcd.
  if (hadLog && config.forceNewCluster) {
    const forced = forceStandalone(wal, () => store.members());
    if (forced.discarded > 0) {
      log.info("discarding uncommitted WAL entries", { "number-of-discarded-entries": forced.discarded });
    }
    log.info("forcing restart member", {
      "cluster-id": idHex(who.clusterId),
      "local-member-id": idHex(who.memberId),
      "commit-index": forced.commit,
      "removed-member-ids": forced.removed.map(idHex).join(","),
    });
    wal.close();
    wal = Wal.open(walDir);
  }
  const guard = new AuthGuard({
    auth: state.auth,
    tokens,
    clientCertAuth: config.clientTls.clientCertAuth,
    leaseKeys: (id) => store.leaseKeys(id),
  });
  const known = store.members();
  const peersOf = (members: readonly MemberRecord[]) => new Map(members.map((m) => [m.id, m.peerUrls]));
  const inbox = new PeerInbox();
  let removed = false;
  const onRemoved = () => {
    if (removed) return;
    removed = true;
    log.warn("the member has been permanently removed from the cluster");
    hooks.onRemoved?.();
  };
  // The members known at start: the store's, else (a restored data dir, whose store holds
  // none until the log's conf changes apply) those the log adds, else the bootstrap roster.
  // They seed the transport and the initial election tick advance, as etcd's do.
  const configured = known.length > 0 ? known : hadLog ? membersOfLog(wal.replay.entries) : bootstrap;
  const transport = new PeerTransport({
    clusterId: who.clusterId,
    memberId: who.memberId,
    peers: peersOf(configured),
    onMessage: inbox.message,
    onUnreachable: inbox.unreachable,
    members: () => store.members(),
    isRemoved: (id) => store.removedMembers().has(id),
    onRemoved,
    onSnapshot: inbox.snapshot,
    tls: peerTls ?? undefined,
    snapDir,
  });
  const newCluster = !hadLog && config.initialClusterState === "new";
  /** Set once serving: starts the peer listeners when a lone member gains a second one. */
  let growPeers: (() => void) | null = null;
  const member = new Member({
    memberId: who.memberId,
    clusterId: who.clusterId,
    wal,
    state,
    maxRequestBytes: config.maxRequestBytes,
    initialVoters: newCluster ? roster.map((m) => m.id) : [],
    initialContexts: newCluster ? bootstrapContexts(roster) : undefined,
    send: (msgs) => transport.send(msgs),
    heartbeatMs: config.heartbeatIntervalMs,
    electionMs: config.electionTimeoutMs,
    preVote: config.preVote,
    tickAdvance: {
      enabled: config.initialElectionTickAdvance,
      remoteMembers: configured.filter((m) => m.id !== who.memberId).length,
      activePeers: () => transport.activePeers(),
    },
    onMembersChanged: (members) => {
      transport.setPeers(peersOf(members));
      if (members.length > 1) growPeers?.();
    },
    onRemoved,
    sendSnapshot: (m, file) => transport.sendSnapshot(m, file),
    snapshotCount: config.snapshotCount,
    maxWals: config.maxWals,
    catchUpEntries: config.snapshotCatchUpEntries,
    snapDir,
  });
  parts.add("the member", member, (m) => m.stop());
  // Closed before the member stops: no peer message arrives at a stopping member.
  parts.add("the peer transport", transport, (t) => t.close());
  // After a burst of work, give the garbage back (see idle_gc.ts).
  const idleGc = parts.add(
    "the idle collector",
    new IdleGc({ idleMs: 1000, collect: () => Bun.gc(true), rss: () => process.memoryUsage.rss() }),
    (g) => g.stop(),
  );
  const leases = parts.add(
    "the lessor",
    setupLeases({
      member,
      store,
      transport,
      heartbeatMs: config.heartbeatIntervalMs,
      electionMs: config.electionTimeoutMs,
      checkpointInterval: config.leaseCheckpointInterval,
    }),
    (l) => l.stop(),
  );
  const stopping = parts.stopping;
  const hub = new WatchHub(store, { header: (revision) => responseHeader(member, revision) });
  const watchStats: WatchStats = { streams: 0, sizes: () => ({ synced: 0, unsynced: 0 }) };
  const metrics = etcdMetrics({
    member,
    store,
    quotaBackendBytes: config.quotaBackendBytes,
    watch: watchStats,
  }, {
    extensive: config.metrics === "extensive",
  });
  wal.observeSync = metrics.observeWalSync;
  store.observeCommit(metrics.observeBackendCommit);
  state.observeApply(slowApplyWarner(config.warningApplyDurationMs, metrics.countSlowApply));
  transport.observeRoundTrip = metrics.observePeerRoundTrip;
  let maintenance: ReturnType<typeof startMaintenance>;
  let corruption: ReturnType<typeof corruptionChecks>;
  let integrity: ReturnType<typeof watchIntegrity>;
  try {
    corruption = corruptionChecks(config, { member, store, transport });
    integrity = watchIntegrity(config, { member, store });
    maintenance = parts.add("maintenance", startMaintenance(config, { store, member }), (m) => m.stop());
  } catch (e) {
    await parts.stop();
    throw e;
  }

  const grpc = new GrpcServer({
    maxRecvMessageBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    guard: (path, req, ctx) => guard.check(path, req, ctx),
    onHandled: metrics.observeHandled,
    admit: learnerAdmission(() => member.isLearner),
    // Non-gRPC HTTP/2 (h2c or TLS h2): the same hono app HTTP/1.1 reaches; `app` is made below.
    onOtherRequest: (stream, headers) =>
      void serveH2Fetch(stream, headers, app.fetch, { incoming: { socket: stream.socket } }),
  });
  grpc.addService(
    KV,
    withQuota(kvService({ member, state, maxTxnOps: config.maxTxnOps }), maintenance.quota),
  );
  grpc.addService(
    Cluster,
    clusterService({
      member,
      store,
      strictReconfigCheck: config.strictReconfigCheck,
      promoteAtLeader: (id) => promoteAtLeader(transport, member.leaderId, id),
    }),
  );
  servePromoteRoute(transport, (id) => promoteHere({ member, store }, id));
  grpc.addService(
    Maintenance,
    {
      ...maintenanceService({
        member,
        store,
        quotaBackendBytes: config.quotaBackendBytes,
        defragmenter: maintenance.defragmenter,
        busy: () => idleGc.touch(),
      }),
      ...moveLeaderService({ member, store }),
    },
  );
  grpc.addService(
    Watch,
    watchService({
      member,
      hub,
      maxRequestBytes: config.maxRequestBytes,
      progressNotifyInterval: config.watchProgressNotifyInterval,
      stopping,
      guard,
      stats: watchStats,
    }),
  );
  grpc.addService(Lease, leases.service);
  grpc.addService(Auth, authService({ member, state, tokens, bcryptCost: config.bcryptCost }));
  const keyspace = new Keyspace(member, state);
  // Where each kind of result goes, all in one place; nothing else subscribes. Wired before
  // the member starts, so the first applied entry (a replay of the log) reaches them all:
  // simple tokens, for one, are learnt from applied Authenticate entries.
  member.onApplied((b) => {
    idleGc.touch();
    hub.notify(b);
    keyspace.applied(b);
  });
  member.onSnapshotInstalled((s) => {
    leases.lessor.restore(store.leases());
    hub.resync(s.previousRevision);
  });
  member.onLeaderChange((leading) =>
    leading ? leases.lessor.promote(config.electionTimeoutMs) : leases.lessor.demote()
  );
  state.onLeaseChange((c) => leases.lessor.applied(c));
  state.auth.listen(tokens);
  state.auth.listen({ changed: () => guard.authChanged() });
  store.onDamage((m, foundBy) => integrity.damaged(m, foundBy));
  member.start();
  inbox.attach(member);
  const recipeLeases = sessionLeases(leases.grant);
  grpc.addService(Lock, lockService(keyspace, recipeLeases));
  grpc.addService(Election, electionService(keyspace, recipeLeases));
  const health = {
    leaderId: () => member.leaderId,
    alarms: (): readonly string[] => store.alarms().map((a) => AlarmType[a.alarm]),
    read: (serializable: boolean) => serializable ? Promise.resolve(null) : member.readIndex(),
    isLearner: () => member.isLearner,
  };
  const web = {
    grpc,
    registry: metrics.registry,
    health,
    countHealth: metrics.countHealth,
    stopping,
  };
  const app = httpApp({
    access: { cors: new Set(config.cors), hosts: new Set(config.hostWhitelist) },
    unhealthyReason: (q) => unhealthyReason(health, q),
    onHealth: metrics.countHealth,
    extend: (a) => clientWebRoutes(a, web),
  });

  const listening: Listening[] = [];
  const listened = (l: Listening) =>
    listening.push(parts.add(`the listener on ${l.url.href}`, l, (x) => x.close()));
  let open!: () => void;
  const ready = new Promise<void>((resolve) => (open = resolve));
  // A lone member with default flags serves no peer port until it gains a second member
  // (`member add`): then it listens on --listen-peer-urls, as etcd always does, so that
  // the new member can join.
  let peersListening = false;
  const listenToPeers = async () => {
    if (peersListening || stopping.aborted) return;
    peersListening = true;
    try {
      for (const url of config.listenPeerUrls) {
        const exposed = peerExposure(url, config.peerTls);
        if (exposed !== null) log.warn(exposed, { address: listenAddress(url, "peer") });
        const bound = await transport.listen(url);
        log.info("serving peer traffic", { address: listenAddress(bound, "peer") });
      }
    } catch (e) {
      peersListening = false; // the next membership change tries again
      throw e;
    }
  };
  const listensToPeers = roster.length > 1 || config.listenPeerExplicit ||
    config.initialClusterState === "existing" || known.length > 1;
  try {
    if (hadLog) await corruption.initialCheck();
    if (listensToPeers) await listenToPeers();
    growPeers = () => {
      // The conf change is applied already: without this port the new member cannot join and
      // the cluster has no quorum, so say so loudly.
      listenToPeers().catch((e) =>
        log.error("cannot serve peer traffic; the new member cannot join until it can", errorFields(e))
      );
    };
    // Conf changes the member replayed since it started may have grown it already.
    if (store.members().length > 1) growPeers();
    for (const url of config.listenClientUrls) {
      listened(
        await listenClient(url, {
          // Any request may leave garbage (a refused body's MiBs, an abandoned stream's
          // buffers), not only writes: each counts as work for the idle collection.
          onStream: (...a: Parameters<typeof grpc.onStream>) => (idleGc.touch(), grpc.onStream(...a)),
          fetch: (...a: Parameters<typeof app.fetch>) => (idleGc.touch(), app.fetch(...a)),
          maxConcurrentStreams: config.maxConcurrentStreams,
          keepalive: config.grpcKeepalive,
          maxBodyBytes: maxJsonBytes(grpc.maxRecvMessageBytes),
          tls: isSecure(url) ? clientTls : null,
          ready,
        }),
      );
    }
    // etcd serves these before the member is ready: /health there says why it is not.
    for (const url of config.listenMetricsUrls) listened(await listenMetrics(url, web));
  } catch (e) {
    await parts.stop();
    if (e instanceof DataInconsistency) throw e;
    throw new Error(`listen failed: ${(e as Error).message}`);
  }
  corruption.startPeriodic(stopping);
  integrity.startScrub(stopping);
  publishAttributes(member, {
    name: config.name,
    clientUrls: config.advertiseClientUrls,
    stopping,
    timeoutMs: 5000 + 2 * config.electionTimeoutMs,
  }).then((published) => {
    if (!published) return;
    log.info("ready to serve client requests");
    for (const { url } of listening.slice(0, config.listenClientUrls.length)) { // metrics listeners follow
      const address = listenAddress(url, "client");
      if (isSecure(url)) log.info("serving client traffic securely", { address });
      else log.info("serving client traffic insecurely; this is strongly discouraged!", { address });
    }
    open();
  });
  return {
    member,
    listening,
    ready,
    stop: () => parts.stop(),
  };
}

/**
 * Publishes this member's name and client URLs through the log (etcd's publish), retrying
 * until it is applied: other members list them, and `endpoint --cluster` dials them.
 * Resolves true once published (the member may then serve clients), false if stopped first.
 */
async function publishAttributes(
  member: Member,
  attrs: { name: string; clientUrls: readonly string[]; stopping: AbortSignal; timeoutMs: number },
): Promise<boolean> {
  try {
    while (!attrs.stopping.aborted) {
      // A proposal made before a leader is known waits for one (Member.propose).
      const o = await member.propose(create(InternalRaftRequestSchema, {
        memberAttrSet: { memberId: member.memberId, name: attrs.name, clientUrls: [...attrs.clientUrls] },
      }));
      if (!isEtcdError(o)) {
        const id = idHex(member.memberId);
        log.info("enabled capabilities for version", {
          "cluster-version": CLUSTER_VERSION.replace(/\.\d+$/, ""),
        });
        log.info("published local member to cluster through raft", {
          "local-member-id": id,
          "local-member-attributes": `{Name:${attrs.name} ClientURLs:[${attrs.clientUrls.join(" ")}]}`,
          "request-path": `/0/members/${id}/attributes`,
          "cluster-id": idHex(member.clusterId),
          "publish-timeout": `${attrs.timeoutMs / 1000}s`,
        });
        return true;
      }
      log.warn("failed to publish local member to cluster through raft", {
        "local-member-id": idHex(member.memberId),
        error: o.message,
      });
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    log.warn(`publishing member attributes failed: ${(e as Error).message}`);
  }
  return false;
}

/**
 * Peer TLS from the --peer-* flags: the listener's options, and the certificate this
 * member presents when it dials peers. With --peer-auto-tls and no CA, peers' self-signed
 * certificates cannot be verified and are not (etcd's InsecureSkipVerify for auto TLS).
 */
function peerTlsOf(config: ServerConfig): PeerTls | null {
  const server = serverTls(config.peerTls, {
    dataDir: config.dataDir,
    side: "peer",
    hosts: config.listenPeerUrls.map((u) => u.hostname),
  });
  if (server === null) return null;
  return {
    // Peers speak HTTP/1.1 (fetch); offering h2 would only confuse the negotiation.
    server: { ...server, ALPNProtocols: ["http/1.1"] },
    client: {
      cert: server.cert as Buffer,
      key: server.key as Buffer,
      ca: server.ca as Buffer | undefined,
      rejectUnauthorized: server.ca !== undefined,
      // etcd's --cipher-suites hold for the peer connections we dial too.
      ...cipherOptions(config.peerTls.ciphers),
    },
  };
}

/** The members that the conf changes among `entries` leave (a restored member's first log adds them all). */
function membersOfLog(entries: readonly Entry[]): MemberRecord[] {
  const members = new Map<bigint, MemberRecord>();
  for (const e of entries) {
    if (e.type !== EntryType.EntryConfChange) continue;
    const change = memberChangeOf(decodeConfChange(e.data));
    if (change.kind === "add") members.set(change.member.id, change.member);
    else if (change.kind === "remove") members.delete(change.id);
  }
  return [...members.values()];
}
