/**
 * A deterministic cluster simulator (in the spirit of TigerBeetle's VOPR): N Raft nodes in
 * one process, a seeded network that drops, delays, duplicates and reorders messages and
 * partitions nodes (also one way), seeded crashes that keep exactly what was persisted,
 * membership changes, leadership transfers, log compaction and snapshots, and clients
 * doing writes and ReadIndex reads against a small key-value state machine. The Raft
 * safety properties are checked after every step; liveness and linearizability at the end.
 * Everything derives from the seed, so a failure replays exactly.
 */
import { RaftInvariantError } from "../../raft/assert.ts";
import { decodeConfChange, decodeMessage, encodeMessage } from "../../raft/codec.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  type Snapshot,
} from "../../raft/messages.ts";
import { SeededRandom } from "../../raft/rand.ts";
import { StateType } from "../../raft/raft.ts";
import { RawNode, type Ready } from "../../raft/rawnode.ts";
import { MemoryStorage } from "../../raft/storage.ts";
import { RaftError } from "../../raft/errors.ts";
import { checkLinearizable, type Operation } from "./linearizability.ts";

export interface SimOptions {
  seed: number;
  nodes?: number;
  /** Steps of faulty operation before the healing (liveness) phase. */
  steps?: number;
  /** Print a line per notable event. */
  verbose?: boolean;
}

export interface SimStats {
  seed: number;
  steps: number;
  maxTerm: number;
  committed: number;
  writes: number;
  reads: number;
  unknownOps: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsSent: number;
  messages: number;
  linearizable: boolean | "unknown";
}

/** A violated property, carrying the seed that reproduces it. */
export class SimFailure extends Error {
  override name = "SimFailure";
  constructor(readonly seed: number, readonly step: number, what: string) {
    super(`seed ${seed} step ${step}: ${what}`);
  }
}

const TICK_EVERY = 4;
const ELECTION_TICK = 10;
const CLIENTS = 4;
const KEYS = ["a", "b", "c"];
const CLIENT_TIMEOUT = 600;
const LIVENESS_STEPS = 4000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface KvMachine {
  data: Map<string, string>;
  lastSeq: Map<number, number>;
  applied: number;
  confState: ConfState;
}

interface SimNode {
  readonly id: NodeId;
  readonly initial: boolean;
  /** The node's disk: what survives a crash. */
  readonly storage: MemoryStorage;
  raw: RawNode | null;
  sm: KvMachine;
  removed: boolean;
  incarnation: number;
  checkedCommit: number;
  /** ReadIndex answers waiting for the state machine to catch up. */
  waitingReads: { ctx: string; index: number }[];
  /** A Ready whose persistence is still in flight. */
  pendingReady: { rd: Ready; doneAt: number } | null;
}

interface InFlight {
  deliverAt: number;
  from: NodeId;
  to: NodeId;
  type: MessageType;
  bytes: Uint8Array;
}

interface PendingOp {
  op: Operation;
  node: NodeId;
  seq: number;
  deadline: number;
  ctx: string;
}

interface Client {
  readonly id: number;
  seq: number;
  pending: PendingOp | null;
}

interface Payload {
  c: number;
  s: number;
  k: string;
  v: string;
}

function entryKey(e: Entry): string {
  let s = `${e.term}|${e.type}|`;
  for (let i = 0; i < e.data.length; i++) s += String.fromCharCode(e.data[i]);
  return s;
}

function idHex(id: NodeId): string {
  return id.toString(16);
}

/** Runs one seeded simulation; throws SimFailure on any violated property. */
export function runSimulation(opts: SimOptions): SimStats {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly rng: SeededRandom;
  private readonly seed: number;
  private readonly totalSteps: number;
  private readonly verbose: boolean;
  private now = 0;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly initialIds: NodeId[] = [];
  private inflight: InFlight[] = [];
  private readonly cut = new Set<string>();
  private readonly clients: Client[] = [];
  private readonly history: Operation[] = [];
  // Network behaviour, drawn per seed.
  private dropRate: number;
  private dupRate: number;
  private maxDelay: number;
  private longDelayRate: number;
  private faults = true;
  private readonly preVote: boolean;
  /** Persistence completes some steps after the Ready was taken, as with an awaited fsync. */
  private readonly asyncPersist: boolean;
  /** Flow control varies per seed: one entry per MsgApp exposes more interleavings. */
  private readonly maxSizePerMsg: number;
  private readonly maxInflight: number;
  private readonly checkQuorum: boolean;
  // Safety bookkeeping.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly committedLog = new Map<number, { key: string; term: number; commitTerm: number }>();
  private maxCommitted = 0;
  private readonly appliedLog = new Map<number, string>();
  private readonly logEntries = new Map<string, { key: string; prevTerm: number | null }>();
  private readonly stats: SimStats;

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.rng = new SeededRandom(opts.seed);
    this.totalSteps = opts.steps ?? 3000;
    this.verbose = opts.verbose ?? false;
    this.dropRate = this.rng.next() * 0.1;
    this.dupRate = this.rng.next() * 0.05;
    this.maxDelay = 1 + this.rng.int(8);
    this.longDelayRate = this.rng.next() * 0.03;
    // Without CheckQuorum a deposed leader lingers, which is what stale reads need.
    this.preVote = this.rng.next() < 0.75;
    this.checkQuorum = this.rng.next() < 0.75;
    this.maxSizePerMsg = [0, 256, 1024 * 1024][this.rng.int(3)];
    this.asyncPersist = this.rng.next() < 0.5;
    this.maxInflight = [1, 4, 256][this.rng.int(3)];
    this.stats = {
      seed: opts.seed,
      steps: 0,
      maxTerm: 0,
      committed: 0,
      writes: 0,
      reads: 0,
      unknownOps: 0,
      crashes: 0,
      partitions: 0,
      confChanges: 0,
      transfers: 0,
      snapshotsSent: 0,
      messages: 0,
      linearizable: false,
    };
    const n = opts.nodes ?? 3;
    for (let i = 0; i < n; i++) this.initialIds.push(this.newId());
    for (const id of this.initialIds) this.addNode(id, true);
    for (let c = 1; c <= CLIENTS; c++) this.clients.push({ id: c, seq: 0, pending: null });
  }

  // ---- setup ---------------------------------------------------------------------------

  /** Random-looking 64-bit member IDs, like etcd's, most of them above 2^53. */
  private newId(): NodeId {
    for (;;) {
      const hi = BigInt(this.rng.int(0x100000000));
      const lo = BigInt(this.rng.int(0x100000000));
      const id = (hi << 32n) | lo;
      if (id !== 0n && !this.nodes.has(id)) return id;
    }
  }

  private addNode(id: NodeId, initial: boolean): SimNode {
    const node: SimNode = {
      id,
      initial,
      storage: new MemoryStorage(),
      raw: null,
      sm: emptyMachine(),
      removed: false,
      incarnation: 0,
      checkedCommit: 0,
      waitingReads: [],
      pendingReady: null,
    };
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  /** Starts (or restarts) a node from exactly what its storage holds. */
  private start(node: SimNode): void {
    node.incarnation++;
    const snap = node.storage.snapshot() as Snapshot;
    node.raw = new RawNode({
      // The state machine is rebuilt from the snapshot, so raft must not replay before it.
      applied: snap.metadata.index,
      id: node.id,
      peers: node.initial ? this.initialIds : undefined,
      storage: node.storage,
      electionTick: ELECTION_TICK,
      heartbeatTick: 1,
      preVote: this.preVote,
      checkQuorum: this.checkQuorum,
      maxSizePerMsg: this.maxSizePerMsg,
      maxInflightMsgs: this.maxInflight,
      seed: this.seed * 31 + node.incarnation,
    });
    node.sm = snap.metadata.index > 0 ? machineFromSnapshot(snap) : emptyMachine();
    node.checkedCommit = snap.metadata.index;
    node.waitingReads = [];
    node.pendingReady = null;
    this.processReady(node);
  }

  private crash(node: SimNode, why: string): void {
    if (node.raw === null) return;
    this.log(`crash ${idHex(node.id)} (${why})`);
    node.raw = null;
    node.waitingReads = [];
    node.pendingReady = null;
    this.stats.crashes++;
    for (const c of this.clients) if (c.pending?.node === node.id) this.giveUp(c);
  }

  private log(s: string): void {
    if (this.verbose) console.log(`[${this.now}] ${s}`);
  }

  private fail(what: string): never {
    throw new SimFailure(this.seed, this.now, what);
  }

  // ---- main loop -----------------------------------------------------------------------

  run(): SimStats {
    try {
      for (let i = 0; i < this.totalSteps; i++) this.step();
      this.heal();
      this.checkLiveness();
    } catch (e) {
      if (e instanceof RaftInvariantError) this.fail(`raft invariant: ${e.message}\n${e.stack}`);
      throw e;
    }
    this.finishClients();
    this.stats.steps = this.now;
    this.stats.maxTerm = Math.max(0, ...this.leaderOfTerm.keys());
    this.stats.committed = this.maxCommitted;
    const r = checkLinearizable(this.history);
    if (r.ok === false) {
      this.fail(`history of key ${r.key} is not linearizable:\n${r.ops.map(formatOp).join("\n")}`);
    }
    this.stats.linearizable = r.ok;
    return this.stats;
  }

  private step(): void {
    this.now++;
    if (this.now % TICK_EVERY === 0) {
      for (const node of this.nodes.values()) {
        // Clocks drift: a node occasionally misses a tick.
        if (node.raw !== null && this.rng.next() < 0.95) {
          node.raw.tick();
          this.processReady(node);
        }
      }
    }
    this.completePersists();
    this.deliver();
    if (this.faults) this.injectFaults();
    this.driveClients();
    this.checkSafety();
  }

  private deliver(): void {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const m of this.inflight) (m.deliverAt <= this.now ? due : later).push(m);
    this.inflight = later;
    // Shuffle what is due: the network does not preserve order.
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [due[i], due[j]] = [due[j], due[i]];
    }
    for (const m of due) {
      const to = this.nodes.get(m.to);
      const lost = to === undefined || to.raw === null || this.cut.has(`${m.from}>${m.to}`);
      if (m.type === MessageType.MsgSnap) this.reportSnapshot(m, lost);
      if (lost) {
        const from = this.nodes.get(m.from);
        if (from?.raw && this.rng.next() < 0.3) {
          from.raw.reportUnreachable(m.to);
          this.processReady(from);
        }
        continue;
      }
      to!.raw!.step(decodeMessage(m.bytes));
      this.processReady(to!);
    }
  }

  private reportSnapshot(m: InFlight, lost: boolean): void {
    const from = this.nodes.get(m.from);
    if (from?.raw) {
      from.raw.reportSnapshot(m.to, lost ? "failure" : "finish");
      this.processReady(from);
    }
  }

  private send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      this.stats.messages++;
      if (this.rng.next() < this.dropRate) continue;
      if (m.type === MessageType.MsgSnap) this.stats.snapshotsSent++;
      const bytes = encodeMessage(m);
      const copies = this.rng.next() < this.dupRate ? 2 : 1;
      for (let k = 0; k < copies; k++) {
        const delay = this.rng.next() < this.longDelayRate
          ? 10 + this.rng.int(60)
          : 1 + this.rng.int(this.maxDelay);
        this.inflight.push({ deliverAt: this.now + delay, from: m.from, to: m.to, type: m.type, bytes });
      }
    }
  }

  // ---- the application loop of one node ------------------------------------------------

  /** Drains a node's Ready exactly as a real application must: persist, send, apply, advance. */
  private processReady(node: SimNode): void {
    while (node.raw !== null && node.pendingReady === null && node.raw.hasReady()) {
      const rd = node.raw.ready();
      if (this.asyncPersist && this.rng.next() < 0.5) {
        // The write is in flight (like an awaited fsync): the node keeps receiving input
        // until it completes, and the effects of that input come out in a later Ready.
        node.pendingReady = { rd, doneAt: this.now + 1 + this.rng.int(3) };
        return;
      }
      this.finishReady(node, rd);
    }
  }

  /** Completes the writes that were in flight, then drains what accumulated meanwhile. */
  private completePersists(): void {
    for (const node of this.nodes.values()) {
      const p = node.pendingReady;
      if (p === null || p.doneAt > this.now) continue;
      node.pendingReady = null;
      this.finishReady(node, p.rd);
      this.processReady(node);
    }
  }

  /** Handles one Ready exactly as a real application must: persist, send, apply, advance. */
  private finishReady(node: SimNode, rd: Ready): void {
    const raw = node.raw!;
    // A crash before the write reaches the disk loses this whole Ready.
    if (this.faults && this.rng.next() < 0.0002) {
      this.crash(node, "before persisting");
      return;
    }
    // 1. Persist. Nothing below may happen before this is durable.
    if (rd.snapshot !== null) {
      const err = node.storage.applySnapshot(rd.snapshot);
      if (err !== null) this.fail(`${idHex(node.id)} could not persist snapshot: ${err}`);
    }
    node.storage.append(rd.entries);
    if (rd.hardState !== null) node.storage.setHardState(rd.hardState);
    this.checkPersistedEntries(node, rd.entries);
    // A crash here loses the messages and everything volatile, but not the disk.
    if (this.faults && this.rng.next() < 0.0003) {
      this.crash(node, "after persisting, before sending");
      return;
    }
    // 2. Send.
    this.send(rd.messages);
    // 3. Apply.
    if (rd.snapshot !== null) {
      node.sm = machineFromSnapshot(rd.snapshot);
      node.waitingReads = [];
    }
    for (const e of rd.committedEntries) {
      this.apply(node, e);
      if (node.raw === null) return; // removed from the group
    }
    for (const rs of rd.readStates) {
      node.waitingReads.push({ ctx: decoder.decode(rs.requestCtx), index: rs.index });
    }
    this.serveReads(node);
    if (rd.softState?.state === StateType.Leader && raw.raft.state === StateType.Leader) {
      this.checkLeaderCompleteness(node);
    }
    raw.advance(rd);
  }

  private apply(node: SimNode, e: Entry): void {
    const sm = node.sm;
    if (e.index !== sm.applied + 1) this.fail(`${idHex(node.id)} applied ${e.index} after ${sm.applied}`);
    const key = entryKey(e);
    const prev = this.appliedLog.get(e.index);
    if (prev === undefined) this.appliedLog.set(e.index, key);
    else if (prev !== key) {
      this.fail(`state machine safety: index ${e.index} applied as two different entries`);
    }
    sm.applied = e.index;
    if (e.type === EntryType.EntryConfChange) {
      const cc = decodeConfChange(e.data);
      sm.confState = node.raw!.applyConfChange(cc);
      if (cc.type === ConfChangeType.ConfChangeRemoveNode && cc.nodeId === node.id) {
        // Like etcd, a member that applies its own removal shuts down for good.
        this.log(`${idHex(node.id)} removed itself`);
        node.removed = true;
        this.crash(node, "removed");
        this.stats.crashes--;
      }
      return;
    }
    if (e.data.length === 0) return;
    const p = JSON.parse(decoder.decode(e.data)) as Payload;
    // Proposals can be duplicated by the network: apply each client request once.
    if (p.s > (sm.lastSeq.get(p.c) ?? 0)) {
      sm.data.set(p.k, p.v);
      sm.lastSeq.set(p.c, p.s);
    }
    const c = this.clients[p.c - 1];
    if (
      c !== undefined && c.pending !== null && c.pending.seq === p.s && c.pending.node === node.id &&
      c.pending.op.kind === "put"
    ) {
      c.pending.op.return = this.now;
      c.pending = null;
    }
  }

  private serveReads(node: SimNode): void {
    if (node.waitingReads.length === 0) return;
    const still: { ctx: string; index: number }[] = [];
    for (const w of node.waitingReads) {
      if (w.index > node.sm.applied) {
        still.push(w);
        continue;
      }
      for (const c of this.clients) {
        const p = c.pending;
        if (p !== null && p.ctx === w.ctx && p.node === node.id) {
          p.op.output = node.sm.data.get(p.op.key) ?? null;
          p.op.return = this.now;
          c.pending = null;
        }
      }
    }
    node.waitingReads = still;
  }

  // ---- clients -------------------------------------------------------------------------

  private liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.raw !== null) out.push(n);
    return out;
  }

  private leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      if (
        n.raw?.raft.state === StateType.Leader && (best === null || n.raw.raft.term > best.raw!.raft.term)
      ) best = n;
    }
    return best;
  }

  private driveClients(): void {
    for (const c of this.clients) {
      if (c.pending !== null) {
        if (c.pending.deadline < this.now) this.giveUp(c);
        continue;
      }
      if (this.rng.next() < 0.08) this.issue(c);
    }
  }

  private issue(c: Client): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = live[this.rng.int(live.length)];
    const raw = node.raw!;
    const seq = ++c.seq;
    const key = KEYS[this.rng.int(KEYS.length)];
    const ctx = `${c.id}.${seq}`;
    if (this.rng.next() < 0.5) {
      const op: Operation = {
        clientId: c.id,
        kind: "put",
        key,
        value: ctx,
        call: this.now,
        return: Infinity,
      };
      const payload: Payload = { c: c.id, s: seq, k: key, v: ctx };
      const err = raw.propose(encoder.encode(JSON.stringify(payload)));
      if (err !== null) {
        // Dropped for certain: it never happened, so it is not part of the history.
        this.processReady(node);
        return;
      }
      this.history.push(op);
      this.stats.writes++;
      c.pending = { op, node: node.id, seq, deadline: this.now + CLIENT_TIMEOUT, ctx };
    } else {
      const op: Operation = { clientId: c.id, kind: "get", key, call: this.now, return: Infinity };
      this.history.push(op);
      this.stats.reads++;
      c.pending = { op, node: node.id, seq, deadline: this.now + CLIENT_TIMEOUT, ctx };
      raw.readIndex(encoder.encode(ctx));
    }
    this.processReady(node);
  }

  private giveUp(c: Client): void {
    this.stats.unknownOps++;
    c.pending = null;
  }

  private finishClients(): void {
    for (const c of this.clients) if (c.pending !== null) this.giveUp(c);
  }

  // ---- faults --------------------------------------------------------------------------

  private injectFaults(): void {
    const r = this.rng;
    const nodes = [...this.nodes.values()].filter((n) => !n.removed);
    if (r.next() < 0.001) {
      const live = nodes.filter((n) => n.raw !== null);
      if (live.length > 0) this.crash(live[r.int(live.length)], "random crash");
    }
    if (r.next() < 0.002) {
      // Leaders crashing with a partly replicated tail make the divergent logs of Figure 8.
      const leader = this.leader();
      if (leader !== null) this.crash(leader, "leader crash");
    }
    for (const n of nodes) {
      if (n.raw === null && r.next() < 0.01) {
        this.log(`restart ${idHex(n.id)}`);
        this.start(n);
      }
    }
    if (r.next() < 0.002) this.partition(nodes);
    if (this.cut.size > 0 && r.next() < 0.004) {
      this.log("heal partitions");
      this.cut.clear();
    }
    if (r.next() < 0.005) this.changeMembership();
    if (r.next() < 0.002) this.transferLeadership();
    for (const n of nodes) if (n.raw !== null && r.next() < 0.004) this.compact(n);
  }

  private partition(nodes: SimNode[]): void {
    this.stats.partitions++;
    const r = this.rng;
    const leader = this.leader();
    if (leader !== null && r.next() < 0.3) {
      // Isolate the leader: the classic setting for stale reads and deposed leaders.
      for (const n of nodes) {
        if (n === leader) continue;
        this.cut.add(`${leader.id}>${n.id}`);
        this.cut.add(`${n.id}>${leader.id}`);
      }
      this.log(`isolate leader ${idHex(leader.id)}`);
    } else if (r.next() < 0.5) {
      // Split into two sides, cut both ways.
      const side = new Set(nodes.filter(() => r.next() < 0.5).map((n) => n.id));
      for (const a of nodes) {
        for (const b of nodes) if (side.has(a.id) !== side.has(b.id)) this.cut.add(`${a.id}>${b.id}`);
      }
      this.log(`partition ${[...side].map(idHex).join(",")} | rest`);
    } else {
      // Asymmetric: some links fail in one direction only.
      const k = 1 + r.int(nodes.length);
      for (let i = 0; i < k; i++) {
        const a = nodes[r.int(nodes.length)];
        const b = nodes[r.int(nodes.length)];
        if (a !== b) this.cut.add(`${a.id}>${b.id}`);
      }
      this.log(`asymmetric cuts: ${[...this.cut].length}`);
    }
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (leader === null) return;
    const raw = leader.raw!;
    const voters = [...raw.raft.tracker.voters];
    const learners = [...raw.raft.tracker.learners];
    const r = this.rng;
    const choice = r.int(3);
    let cc: ConfChange;
    if (choice === 0 && this.nodes.size < this.initialIds.length + 4) {
      cc = { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: this.newId() };
    } else if (choice === 1 && learners.length > 0) {
      cc = { type: ConfChangeType.ConfChangeAddNode, nodeId: learners[r.int(learners.length)] };
    } else if (choice === 2 && (voters.length > 3 || learners.length > 0)) {
      const pool = voters.length > 3 ? [...voters, ...learners] : learners;
      cc = { type: ConfChangeType.ConfChangeRemoveNode, nodeId: pool[r.int(pool.length)] };
    } else {
      return;
    }
    const err = raw.proposeConfChange(cc);
    this.log(`propose conf change ${cc.type} ${idHex(cc.nodeId)}: ${err ?? "ok"}`);
    if (err === null) {
      this.stats.confChanges++;
      // The new member starts empty and learns everything, membership included, from the log.
      if (cc.type === ConfChangeType.ConfChangeAddLearnerNode) this.addNode(cc.nodeId, false);
    }
    this.processReady(leader);
  }

  private transferLeadership(): void {
    const leader = this.leader();
    if (leader === null) return;
    const voters = [...leader.raw!.raft.tracker.voters].filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = voters[this.rng.int(voters.length)];
    this.log(`transfer leadership ${idHex(leader.id)} -> ${idHex(to)}`);
    this.stats.transfers++;
    leader.raw!.transferLeadership(to);
    this.processReady(leader);
  }

  /** Takes a snapshot of the state machine and compacts the log behind it. */
  private compact(node: SimNode): void {
    const sm = node.sm;
    const first = node.storage.firstIndex();
    if (sm.applied - first < 10) return;
    const snap = node.storage.createSnapshot(sm.applied, {
      confState: sm.confState,
      data: machineToBytes(sm),
    });
    if (snap instanceof RaftError) return;
    node.storage.compact(sm.applied - 2);
  }

  // ---- liveness ------------------------------------------------------------------------

  private heal(): void {
    this.faults = false;
    this.cut.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.longDelayRate = 0;
    this.log("heal everything");
    for (const n of this.nodes.values()) if (n.raw === null && !n.removed) this.start(n);
  }

  private checkLiveness(): void {
    const start = this.now;
    let marker: { node: SimNode; index: number } | null = null;
    const data = encoder.encode(JSON.stringify({ c: 0, s: 0, k: "liveness", v: "x" }));
    while (this.now - start < LIVENESS_STEPS) {
      this.step();
      const leader = this.leader();
      if (leader === null) continue;
      if (marker === null || marker.node !== leader) {
        if (leader.raw!.propose(data) === null) {
          marker = { node: leader, index: leader.raw!.raft.log.lastIndex() };
        }
        this.processReady(leader);
        continue;
      }
      if (leader.raw !== null && leader.sm.applied >= marker.index) {
        // Let the clients' outstanding operations finish too.
        for (let i = 0; i < CLIENT_TIMEOUT && this.clients.some((c) => c.pending !== null); i++) this.step();
        return;
      }
    }
    const status = [...this.nodes.values()].map((n) =>
      `${idHex(n.id)}: ${
        n.removed ? "removed" : n.raw === null ? "down" : JSON.stringify(n.raw.status(), bigintJson)
      }`
    );
    this.fail(
      `liveness: no proposal committed within ${LIVENESS_STEPS} steps after healing\n${status.join("\n")}`,
    );
  }

  // ---- safety --------------------------------------------------------------------------

  private checkSafety(): void {
    for (const node of this.nodes.values()) {
      const raw = node.raw;
      if (raw === null) continue;
      const r = raw.raft;
      if (r.state === StateType.Leader) {
        const other = this.leaderOfTerm.get(r.term);
        if (other === undefined) this.leaderOfTerm.set(r.term, node.id);
        else if (other !== node.id) {
          this.fail(`election safety: two leaders in term ${r.term}: ${idHex(other)} and ${idHex(node.id)}`);
        }
      }
      this.checkCommitted(node);
    }
    if (this.now % 200 === 0) this.checkAllCommitted();
  }

  /** Every index a node considers committed must hold the one entry ever committed there. */
  private checkCommitted(node: SimNode): void {
    const log = node.raw!.raft.log;
    const c = log.committed;
    if (c <= node.checkedCommit) return;
    const lo = Math.max(node.checkedCommit + 1, log.firstIndex());
    node.checkedCommit = c;
    if (lo > c) return;
    const ents = log.slice(lo, c + 1, Infinity);
    if (ents instanceof RaftError) this.fail(`${idHex(node.id)} cannot read committed entries: ${ents}`);
    for (const e of ents) {
      const key = entryKey(e);
      const known = this.committedLog.get(e.index);
      if (known === undefined) {
        this.committedLog.set(e.index, { key, term: e.term, commitTerm: node.raw!.raft.term });
        if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      } else if (known.key !== key) {
        this.fail(`committed entry ${e.index} changed on ${idHex(node.id)}: term ${known.term} -> ${e.term}`);
      }
    }
  }

  private checkAllCommitted(): void {
    for (const node of this.nodes.values()) {
      if (node.raw === null) continue;
      const log = node.raw.raft.log;
      const lo = log.firstIndex();
      const hi = Math.min(log.committed, node.checkedCommit);
      if (lo > hi) continue;
      const ents = log.slice(lo, hi + 1, Infinity) as Entry[];
      for (const e of ents) {
        const known = this.committedLog.get(e.index);
        if (known !== undefined && known.key !== entryKey(e)) {
          this.fail(`committed entry ${e.index} changed on ${idHex(node.id)}`);
        }
      }
    }
  }

  /**
   * Log matching over persisted logs: an (index, term) pair always names the same entry
   * with the same predecessor term, so two logs sharing an entry share the prefix too.
   */
  private checkPersistedEntries(node: SimNode, ents: readonly Entry[]): void {
    for (const e of ents) {
      const pt = node.storage.term(e.index - 1);
      const prevTerm = typeof pt === "number" ? pt : null;
      const id = `${e.index}/${e.term}`;
      const key = entryKey(e);
      const known = this.logEntries.get(id);
      if (known === undefined) {
        this.logEntries.set(id, { key, prevTerm });
        continue;
      }
      if (known.key !== key) {
        this.fail(`log matching: two different entries at index ${e.index} term ${e.term}`);
      }
      if (known.prevTerm !== null && prevTerm !== null && known.prevTerm !== prevTerm) {
        this.fail(
          `log matching: entry ${id} follows term ${prevTerm} on ${
            idHex(node.id)
          }, ${known.prevTerm} elsewhere`,
        );
      }
    }
  }

  /** A new leader of term T holds every entry committed in an earlier term. */
  private checkLeaderCompleteness(node: SimNode): void {
    const r = node.raw!.raft;
    let i = this.maxCommitted;
    while (i > 0) {
      const c = this.committedLog.get(i);
      if (c !== undefined && c.commitTerm < r.term) break;
      i--;
    }
    if (i === 0 || i < r.log.firstIndex() - 1) return; // covered by its snapshot
    const t = r.log.term(i);
    if (t !== this.committedLog.get(i)!.term) {
      this.fail(`leader completeness: leader ${idHex(node.id)} of term ${r.term} lacks committed entry ${i}`);
    }
  }
}

function emptyMachine(): KvMachine {
  return { data: new Map(), lastSeq: new Map(), applied: 0, confState: { voters: [], learners: [] } };
}

function machineToBytes(sm: KvMachine): Uint8Array {
  return encoder.encode(JSON.stringify({ data: [...sm.data], seq: [...sm.lastSeq] }));
}

function machineFromSnapshot(s: Snapshot): KvMachine {
  const j = JSON.parse(decoder.decode(s.data)) as { data: [string, string][]; seq: [number, number][] };
  return {
    data: new Map(j.data),
    lastSeq: new Map(j.seq),
    applied: s.metadata.index,
    confState: s.metadata.confState,
  };
}

function formatOp(op: Operation): string {
  const what = op.kind === "put" ? `put ${op.key}=${op.value}` : `get ${op.key} -> ${op.output}`;
  return `  client ${op.clientId} ${what} [${op.call}, ${op.return}]`;
}

function bigintJson(_k: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString(16);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), x]));
  return v;
}
