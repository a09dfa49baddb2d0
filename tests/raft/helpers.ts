/**
 * Test scaffolding in the style of etcd-io/raft's own tests: Raft instances wired to an
 * in-memory network that delivers messages synchronously, with partitions and drops.
 */
import {
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type Message,
  message,
  MessageType,
  type NodeId,
} from "../../raft/messages.ts";
import { Raft, type RaftConfig } from "../../raft/raft.ts";
import { MemoryStorage } from "../../raft/storage.ts";

/** Storage for a group whose membership is already known (as after bootstrapping). */
export function storageWith(voters: NodeId[], learners: NodeId[] = []): MemoryStorage {
  return new MemoryStorage({
    snapshot: { data: EMPTY_BYTES, metadata: { index: 0, term: 0, confState: { voters, learners } } },
  });
}

export function newRaft(
  id: NodeId,
  voters: NodeId[],
  opts: Partial<RaftConfig> & { learners?: NodeId[] } = {},
): Raft {
  const storage = opts.storage ?? storageWith(voters, opts.learners ?? []);
  return new Raft({ electionTick: 10, heartbeatTick: 1, seed: Number(id), ...opts, id, storage });
}

export function entry(index: number, term: number, data = ""): Entry {
  return { index, term, type: EntryType.EntryNormal, data: new TextEncoder().encode(data) };
}

/** Storage holding the given entries (term of each), for building divergent logs. */
export function storageWithLog(voters: NodeId[], terms: number[], learners: NodeId[] = []): MemoryStorage {
  const s = storageWith(voters, learners);
  s.append(terms.map((t, i) => entry(i + 1, t)));
  return s;
}

export function take(r: Raft): Message[] {
  const m = r.msgs;
  r.msgs = [];
  return m;
}

/** Persists the unstable part of the log as the application would after a Ready. */
export function persist(r: Raft): void {
  const s = r.log.storage as MemoryStorage;
  const snap = r.log.unstable.snapshot;
  if (snap !== null) {
    s.applySnapshot(snap);
    r.log.stableSnapTo(snap.metadata.index);
  }
  const ents = r.log.unstableEntries();
  if (ents.length > 0) {
    s.append(ents);
    const last = ents[ents.length - 1];
    r.log.stableTo(last.index, last.term);
  }
}

export function hup(id: NodeId): Message {
  return message({ type: MessageType.MsgHup, from: id });
}

export function prop(from: NodeId, data = "x"): Message {
  return message({
    type: MessageType.MsgProp,
    from,
    entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: new TextEncoder().encode(data) }],
  });
}

/** Synchronous message delivery between Raft instances, with drop and cut controls. */
export class Network {
  readonly peers = new Map<NodeId, Raft>();
  private readonly cuts = new Set<string>();
  private readonly ignored = new Set<MessageType>();
  delivered: Message[] = [];

  constructor(rafts: Raft[]) {
    for (const r of rafts) this.peers.set(r.id, r);
  }

  get(id: NodeId): Raft {
    return this.peers.get(id)!;
  }

  /** Steps the messages and everything they cause until the network is quiet. */
  send(...msgs: Message[]): void {
    const queue = [...msgs];
    while (queue.length > 0) {
      const m = queue.shift()!;
      const r = this.peers.get(m.to === 0n ? m.from : m.to);
      if (r === undefined) continue;
      this.delivered.push(m);
      r.step(m);
      persist(r);
      for (const out of take(r)) if (this.passes(out)) queue.push(out);
    }
  }

  private passes(m: Message): boolean {
    if (this.ignored.has(m.type)) return false;
    return !this.cuts.has(`${m.from}>${m.to}`);
  }

  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.peers.keys()) if (other !== id) this.cut(id, other);
  }

  ignore(t: MessageType): void {
    this.ignored.add(t);
  }

  recover(): void {
    this.cuts.clear();
    this.ignored.clear();
  }

  /** Ticks one node and delivers what it sends. */
  tick(id: NodeId, times = 1): void {
    const r = this.get(id);
    for (let i = 0; i < times; i++) {
      r.tick();
      persist(r);
      this.send(...take(r).filter((m) => this.passes(m)));
    }
  }
}

export function electLeader(net: Network, id: NodeId): void {
  net.send(hup(id));
}
