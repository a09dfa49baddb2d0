/**
 * An etcd backend (a bbolt file: a snapshot saved from etcd 3.4 or 3.5, or a data dir's
 * `member/snap/db`) into a new store: the key history, the compaction marks, leases,
 * users, roles, the auth flag and revision, and alarms. Membership is not imported (a
 * restore starts a new cluster), nor is the consistent index (restore resets it).
 */
import type { Database } from "bun:sqlite";
import { fromBinary } from "@bufbuild/protobuf";
import { LeaseSchema } from "../proto/gen/leasepb/lease_pb.ts";
import { RoleSchema, UserSchema } from "../proto/gen/authpb/auth_pb.ts";
// etcd's alarm bucket is keyed by a marshalled etcdserverpb.AlarmMember (see etcd_export.ts).
import { AlarmMemberSchema } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { raiseAlarm } from "./alarm.ts";
import type { BboltReader, Entry } from "./bbolt/reader.ts";
import { compactHistory } from "./compaction.ts";
import { AuthKey, Bucket, MetaKey, parseRevisionKey, readU64 } from "./etcd_layout.ts";
import { KeyIndex } from "./key_index.ts";
import { compareBytes } from "./keys.ts";
import { BadKeyEntry, importKeyBucket, type ImportTask } from "./key_bucket_import.ts";

/**
 * Fills the empty store `db` (the schema created, no transaction open) from the etcd
 * backend `r`, in one transaction; an error value names what could not be read. `file`
 * names the file `r` reads, for a worker thread that reads a large key bucket beside this
 * one (key_bucket_import.ts); null: read it here.
 */
export async function importEtcdBackend(
  r: BboltReader,
  db: Database,
  file: ImportTask | null = null,
): Promise<Error | null> {
  db.run("BEGIN IMMEDIATE");
  try {
    const err = await importAll(r, db, file);
    if (err !== null) {
      db.run("ROLLBACK");
      return err;
    }
    db.run("COMMIT");
    return null;
  } catch (e) {
    db.run("ROLLBACK");
    throw e;
  }
}

/** An entry that is not what etcd writes there; becomes the import's error value. */
class BadEntry extends Error {}

async function importAll(r: BboltReader, db: Database, file: ImportTask | null): Promise<Error | null> {
  let lastMain = 0n;
  let scheduled = -1n;
  let finished = -1n;
  let authEnabled = false;
  let authRevision = 1n;
  const mark = (e: Entry): bigint => {
    const rev = parseRevisionKey(e.value);
    if (rev === null) throw new Error(`${text(e.key)} is not a revision`);
    return rev.main;
  };
  /** What each bucket's entries do to the new store; a throw says what is wrong with one. */
  const buckets: [Uint8Array, (e: Entry) => void][] = [
    [Bucket.meta, (e) => {
      if (compareBytes(e.key, MetaKey.scheduledCompact) === 0) scheduled = mark(e);
      if (compareBytes(e.key, MetaKey.finishedCompact) === 0) finished = mark(e);
    }],
    [Bucket.lease, (e) => {
      const l = fromBinary(LeaseSchema, e.value);
      db.query("INSERT INTO leases (id, ttl, remaining_ttl) VALUES (?1, ?2, ?3)").run(
        l.ID,
        l.TTL,
        l.RemainingTTL,
      );
    }],
    [Bucket.auth, (e) => {
      if (compareBytes(e.key, AuthKey.enabled) === 0) authEnabled = e.value.length === 1 && e.value[0] === 1;
      if (compareBytes(e.key, AuthKey.revision) !== 0) return;
      const rev = readU64(e.value);
      if (rev === null) throw new Error(`authRevision of ${e.value.length} bytes`);
      authRevision = rev;
    }],
    [Bucket.authUsers, (e) => {
      fromBinary(UserSchema, e.value);
      db.query("INSERT INTO auth_users (name, user) VALUES (?1, ?2)").run(text(e.key), e.value);
    }],
    [Bucket.authRoles, (e) => {
      fromBinary(RoleSchema, e.value);
      db.query("INSERT INTO auth_roles (name, role) VALUES (?1, ?2)").run(text(e.key), e.value);
    }],
    [Bucket.alarm, (e) => {
      const a = fromBinary(AlarmMemberSchema, e.key);
      raiseAlarm(db, a.memberID, a.alarm);
    }],
  ];
  try {
    try {
      const keys = await importKeyBucket(r, db, file);
      if (keys instanceof Error) return keys;
      lastMain = keys.lastMain;
    } catch (x) {
      if (x instanceof BadKeyEntry) return new Error(`bucket "${text(Bucket.key)}": ${x.message}`);
      throw x;
    }
    for (const [name, visit] of buckets) {
      const err = r.forEachIn(name, (e) => {
        try {
          visit(e);
        } catch (x) {
          throw new BadEntry(`bucket "${text(name)}": ${(x as Error).message}`);
        }
      });
      if (err !== null) return err;
    }
  } catch (e) {
    if (e instanceof BadEntry) return new Error(e.message);
    throw e;
  }
  // etcd's restore: the current revision is the newest in the key bucket, at least the
  // compacted one, at least 1.
  let currentRev = lastMain > finished ? lastMain : finished;
  if (currentRev < 1n) currentRev = 1n;
  db.query("UPDATE meta SET current_rev = ?1, compact_rev = ?2 WHERE id = 0").run(currentRev, finished);
  db.query("UPDATE auth_meta SET enabled = ?1, revision = ?2 WHERE id = 0").run(
    authEnabled ? 1 : 0,
    authRevision,
  );
  // A compaction scheduled but not finished when the snapshot was taken: etcd finishes it
  // when it starts on the file; so does the import.
  if (scheduled > finished) {
    compactHistory(db, KeyIndex.load(db), scheduled);
    db.query("UPDATE meta SET compact_rev = ?1 WHERE id = 0").run(scheduled);
  }
  return null;
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}
