/**
 * etcdts's Raft: the consensus algorithm as a deterministic state machine in the style of
 * etcd-io/raft's RawNode. It does no I/O and reads no clock; the application drives it:
 *
 * ```ts
 * const node = new RawNode({ id, peers, storage, preVote: true, checkQuorum: true, seed });
 * // on every timer tick:         node.tick();
 * // on every message from a peer: node.step(decodeMessage(bytes));
 * // on a client write:            const err = node.propose(data); // ErrProposalDropped or null
 * // then, whenever node.hasReady():
 * const rd = node.ready();
 * if (rd.snapshot) storage.applySnapshot(rd.snapshot);  // 1. persist (fsync if rd.mustSync)
 * storage.append(rd.entries);
 * if (rd.hardState) storage.setHardState(rd.hardState);
 * for (const m of rd.messages) send(m.to, encodeMessage(m)); // 2. only now send
 * if (rd.snapshot) restoreStateMachine(rd.snapshot);       // 3. apply, in order
 * for (const e of rd.committedEntries) {
 *   if (e.type === EntryType.EntryConfChange) node.applyConfChange(decodeConfChange(e.data));
 *   else apply(e);
 * }
 * serveReads(rd.readStates); // once applied >= readState.index
 * node.advance(rd);          // 4.
 * ```
 *
 * After a restart pass the same storage and `applied` = the index the state machine holds.
 */
export { RaftInvariantError } from "./assert.ts";
export {
  decodeConfChange,
  decodeConfState,
  decodeEntry,
  DecodeError,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
} from "./codec.ts";
export {
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrUnavailable,
  RaftError,
} from "./errors.ts";
export {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  type Entry,
  EntryType,
  type HardState,
  isEmptyHardState,
  isEmptySnapshot,
  type Message,
  message,
  MessageType,
  messageTypeName,
  type NodeId,
  NONE,
  type Snapshot,
  type SnapshotMetadata,
} from "./messages.ts";
export { type RaftConfig, type ReadState, stateName, StateType } from "./raft.ts";
export {
  type BasicStatus,
  type ProgressStatus,
  RawNode,
  type Ready,
  type SnapshotStatus,
  type SoftState,
  type Status,
} from "./rawnode.ts";
export { ProgressState } from "./progress.ts";
export { type InitialState, MemoryStorage, type Storage } from "./storage.ts";
