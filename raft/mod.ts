/**
 * etcdts's Raft: a deterministic state machine driven by the application (see RawNode and
 * Ready for the contract), plus an in-memory Storage and the raftpb wire codec.
 */
export { RaftInvariantError } from "./assert.ts";
export {
  decodeConfChange,
  decodeConfState,
  decodeEntry,
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
export { RawNode, type Ready, type SnapshotStatus, type SoftState, type Status } from "./rawnode.ts";
export { type InitialState, MemoryStorage, type Storage } from "./storage.ts";
