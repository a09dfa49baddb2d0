/**
 * Raft throughput without I/O: three RawNodes in one process, messages handed over in
 * memory (optionally through the protobuf codec), MemoryStorage without fsync. Reports
 * committed (and applied-on-the-leader) entries per second for batched proposals.
 *
 *   bun bench/raft-bench.ts [--batch 256] [--size 128] [--seconds 3] [--codec]
 *
 * --codec encodes and decodes every message as a real transport must.
 */
import { decodeMessage, encodeMessage } from "../raft/codec.ts";
import type { Message, NodeId } from "../raft/messages.ts";
import { StateType } from "../raft/raft.ts";
import { RawNode } from "../raft/rawnode.ts";
import { MemoryStorage } from "../raft/storage.ts";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const batch = arg("batch", 256);
const size = arg("size", 128);
const seconds = arg("seconds", 3);
const viaCodec = process.argv.includes("--codec");

const ids: NodeId[] = [0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 0xfd422379fda50e48n];
interface BenchNode {
  raw: RawNode;
  storage: MemoryStorage;
  applied: number;
}
const nodes = new Map<NodeId, BenchNode>();
for (const id of ids) {
  const storage = new MemoryStorage();
  nodes.set(id, {
    raw: new RawNode({ id, peers: ids, storage, maxSizePerMsg: 1024 * 1024, maxInflightMsgs: 256, seed: 1 }),
    storage,
    applied: 0,
  });
}

let queue: Message[] = [];
let compactEvery = 0;

/** One pass of every node's application loop, then deliver what they sent. */
function pump(): boolean {
  let busy = false;
  for (const n of nodes.values()) {
    if (!n.raw.hasReady()) continue;
    busy = true;
    const rd = n.raw.ready();
    if (rd.snapshot !== null) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) queue.push(m);
    const ce = rd.committedEntries;
    if (ce.length > 0) n.applied = ce[ce.length - 1].index;
    n.raw.advance(rd);
    // Keep memory flat: compact what everyone has applied.
    if (++compactEvery % 64 === 0 && n.applied - n.storage.firstIndex() > 100_000) {
      n.storage.compact(n.applied - 1000);
    }
  }
  if (queue.length > 0) {
    busy = true;
    const q = queue;
    queue = [];
    for (const m of q) {
      const msg = viaCodec ? decodeMessage(encodeMessage(m)) : m;
      nodes.get(msg.to)!.raw.step(msg);
    }
  }
  return busy;
}

while (pump()) { /* settle the bootstrap entries */ }
nodes.get(ids[0])!.raw.campaign();
for (let i = 0; i < 100 && pump(); i++) { /* elect */ }
const leader = nodes.get(ids[0])!;
if (leader.raw.raft.state !== StateType.Leader) throw new Error("no leader");

const payloads: Uint8Array[] = Array.from({ length: batch }, (_, i) => {
  const b = new Uint8Array(size);
  b[0] = i & 0xff;
  return b;
});

function run(durationMs: number): { entries: number; ms: number } {
  const start = performance.now();
  const startCommit = leader.raw.raft.log.committed;
  let now = start;
  while (now - start < durationMs) {
    // Keep a few batches in flight so that pipelining has something to do.
    const inFlight = leader.raw.raft.log.lastIndex() - leader.raw.raft.log.committed;
    if (inFlight < batch * 4) {
      const err = leader.raw.proposeBatch(payloads);
      if (err !== null) throw new Error(`proposal dropped: ${err}`);
    }
    pump();
    now = performance.now();
  }
  while (pump()) { /* drain */ }
  return { entries: leader.raw.raft.log.committed - startCommit, ms: performance.now() - start };
}

run(500); // warm up the JIT
const { entries, ms } = run(seconds * 1000);
const rate = Math.round(entries / (ms / 1000));
const followersApplied = ids.slice(1).map((id) => nodes.get(id)!.applied);
console.log(
  `raft-bench: 3 nodes, batch ${batch} x ${size} B${
    viaCodec ? ", through the raftpb codec" : ", in-memory messages"
  }: ` +
    `${entries} entries committed in ${(ms / 1000).toFixed(2)} s = ${
      rate.toLocaleString("en-US")
    } entries/s ` +
    `(leader applied ${leader.applied}, followers applied ${followersApplied.join(", ")})`,
);
