/**
 * The data the Raft state machine exchanges with its application: log entries, persistent
 * state, snapshots and peer messages. They mirror etcd's raftpb messages field for field so
 * that `codec.ts` can put them on the wire unchanged, but indices and terms are plain
 * numbers (a log never reaches 2^53 entries, and number arithmetic is several times faster
 * than bigint on the hot path) while node IDs stay `bigint` because etcd member IDs are
 * random 64-bit values.
 */

/** A node (member) ID. 0n means "nobody". */
export type NodeId = bigint;

/** The ID that means "no node": no leader known, no vote cast. */
export const NONE: NodeId = 0n;

/** Values equal raftpb.MessageType so messages can be encoded without a lookup table. */
export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
} as const;
export type MessageType = typeof MessageType[keyof typeof MessageType];

/** Values equal raftpb.EntryType. */
export const EntryType = { EntryNormal: 0, EntryConfChange: 1, EntryConfChangeV2: 2 } as const;
export type EntryType = typeof EntryType[keyof typeof EntryType];

/** Values equal raftpb.ConfChangeType. */
export const ConfChangeType = {
  ConfChangeAddNode: 0,
  ConfChangeRemoveNode: 1,
  ConfChangeUpdateNode: 2,
  ConfChangeAddLearnerNode: 3,
} as const;
export type ConfChangeType = typeof ConfChangeType[keyof typeof ConfChangeType];

/** One log entry. Entries are never mutated once they have left the leader's `propose`. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be on disk before a node may answer anyone (term, vote) or apply (commit). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** The membership of the group. Joint configurations are not used by this implementation. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly confState: ConfState;
  readonly index: number;
  readonly term: number;
}

/** The application's state as of `metadata.index`; `data` is opaque to Raft. */
export interface Snapshot {
  readonly data: Uint8Array;
  readonly metadata: SnapshotMetadata;
}

/** A membership change, proposed with `proposeConfChange` and applied with `applyConfChange`. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  readonly context?: Uint8Array;
  /** etcd threads a request ID through here; Raft ignores it. */
  readonly id?: bigint;
}

/**
 * A message between peers (or a local event such as MsgHup). Every field is always present
 * so that all messages share one object shape; unused fields hold zero values.
 */
export interface Message {
  readonly type: MessageType;
  readonly to: NodeId;
  readonly from: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly snapshot: Snapshot | null;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly context: Uint8Array | null;
}

const NO_ENTRIES: readonly Entry[] = Object.freeze([]);

/** Builds a message with zero values for every field not given. */
export function message(fields: Partial<Message> & { type: MessageType }): Message {
  return {
    type: fields.type,
    to: fields.to ?? NONE,
    from: fields.from ?? NONE,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? NO_ENTRIES,
    commit: fields.commit ?? 0,
    snapshot: fields.snapshot ?? null,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? null,
  };
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** An empty snapshot: what storage reports before any snapshot was taken. */
export const EMPTY_SNAPSHOT: Snapshot = {
  data: EMPTY_BYTES,
  metadata: { confState: { voters: [], learners: [] }, index: 0, term: 0 },
};

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

export function isEmptySnapshot(s: Snapshot | null): boolean {
  return s === null || s.metadata.index === 0;
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Messages a node generates for itself; they never travel over the network. */
export function isLocalMessage(t: MessageType): boolean {
  return t === MessageType.MsgHup || t === MessageType.MsgBeat || t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus || t === MessageType.MsgCheckQuorum;
}

export function isResponseMessage(t: MessageType): boolean {
  return t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp || t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp;
}

/** The response type that answers a (pre)vote request. */
export function voteResponseType(t: MessageType): MessageType {
  if (t === MessageType.MsgVote) return MessageType.MsgVoteResp;
  if (t === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp;
  throw new Error(`not a vote message: ${t}`);
}

/**
 * The size an entry counts for in `maxSizePerMsg` and `maxUncommittedEntriesSize`: its
 * payload plus a fixed allowance for the framing, close to its protobuf encoding.
 */
export function entrySize(e: Entry): number {
  return e.data.length + 12;
}

/** The sum of the payload sizes, used to bound the uncommitted tail of the leader's log. */
export function payloadSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += e.data.length;
  return n;
}

export function messageTypeName(t: MessageType): string {
  for (const [name, v] of Object.entries(MessageType)) if (v === t) return name;
  return `MsgUnknown(${t})`;
}
