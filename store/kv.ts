/**
 * Builds mvccpb messages from store rows. These are built as plain literals rather than
 * with `create()` because they are made once per key on every read and write path.
 */
import type { Event, KeyValue } from "../proto/gen/mvccpb/kv_pb.ts";
import { Event_EventType } from "../proto/gen/mvccpb/kv_pb.ts";
import { decodeKeyValue, encodeKeyValue } from "../wire/etcd.ts";

/**
 * A revision's fields: key, create_rev, mod_rev, version, lease, value; then, where the row
 * was read with its value from `history`, the stored KeyValue those fields came from
 * (`storedKv`), which a range answers as it is (absent or null: read without it). Rows
 * are shared (the row cache) and never changed, so the two always agree.
 */
export type KvRow = [...KvFields, stored?: Uint8Array | null];

/** A revision's fields, as a KvRow begins. */
export type KvFields = [
  key: Uint8Array,
  createRev: bigint,
  modRev: bigint,
  version: bigint,
  lease: bigint,
  value: Uint8Array,
];

const EMPTY = new Uint8Array(0);

/**
 * A revision's KeyValue as `history.kv` holds it, byte for byte what etcd's backend holds
 * (and what a Range answers): every field of a put; a tombstone's key alone.
 */
export function storedKv(row: readonly [...KvFields, ...unknown[]]): Uint8Array {
  const tombstone = row[3] === 0n;
  return encodeKeyValue({
    key: row[0],
    createRevision: tombstone ? 0n : row[1],
    modRevision: tombstone ? 0n : row[2],
    version: row[3],
    value: tombstone ? EMPTY : row[5],
    lease: tombstone ? 0n : row[4],
  });
}

/**
 * Whether `kv`, a stored KeyValue of `key` (`storedKv`), is a tombstone's: the key field
 * alone (a put's always holds its revisions and version besides).
 */
export function isTombstoneKv(key: Uint8Array, kv: Uint8Array): boolean {
  let lengthBytes = 1;
  for (let n = key.length; n >= 0x80; n = Math.floor(n / 0x80)) lengthBytes++;
  return kv.length === 1 + lengthBytes + key.length;
}

/**
 * Keys and values read from a stored KeyValue are copied below this size, views of it
 * above: a view of a buffer bun:sqlite made costs more than a copy of a small field.
 */
const COPY_BELOW = 4096;

/**
 * The KvRow of a stored KeyValue (`storedKv`) at main revision `modRev`, which a
 * tombstone's does not hold; it keeps `kv` as its stored KeyValue.
 */
export function kvRowOf(kv: Uint8Array, modRev: bigint): KvRow {
  const m = decodeKeyValue(kv, COPY_BELOW);
  return [m.key, m.createRevision, modRev, m.version, m.lease, m.value, kv];
}

/** A KeyValue from its fields. */
export function keyValue(
  key: Uint8Array,
  fields: { createRevision: bigint; modRevision: bigint; version: bigint; lease: bigint; value: Uint8Array },
): KeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key,
    createRevision: fields.createRevision,
    modRevision: fields.modRevision,
    version: fields.version,
    value: fields.value,
    lease: fields.lease,
  };
}

/** A KeyValue from a selected row; `withValue: false` leaves the value empty (keys_only). */
export function kvFromRow(row: KvRow, withValue = true): KeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key: row[0],
    createRevision: row[1],
    modRevision: row[2],
    version: row[3],
    value: withValue ? row[5] : EMPTY,
    lease: row[4],
  };
}

/**
 * The kv of a DELETE event: only the key and the deletion revision are set, exactly as
 * etcd reports it (watchers rely on mod_revision to resume).
 */
export function tombstoneKv(key: Uint8Array, revision: bigint): KeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key,
    createRevision: 0n,
    modRevision: revision,
    version: 0n,
    value: EMPTY,
    lease: 0n,
  };
}

/** A PUT event. */
export function putEvent(kv: KeyValue, prevKv: KeyValue | undefined): Event {
  return { $typeName: "mvccpb.Event", type: Event_EventType.PUT, kv, prevKv };
}

/** A DELETE event. */
export function deleteEvent(key: Uint8Array, revision: bigint, prevKv: KeyValue | undefined): Event {
  return { $typeName: "mvccpb.Event", type: Event_EventType.DELETE, kv: tombstoneKv(key, revision), prevKv };
}
