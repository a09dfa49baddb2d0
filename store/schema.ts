/**
 * The SQLite schema of the MVCC store and the connection settings it relies on.
 *
 * - `history` holds every revision of every key until compaction (a tombstone has
 *   `create_rev = 0`, `version = 0`): reads, watch catch-up, HashKV, snapshots. `kv` is the
 *   revision's KeyValue encoded as etcd's backend stores it (a tombstone's holds its key
 *   alone), so that a Range answers, a snapshot exports and HashKV hashes those bytes as
 *   they are, with nothing to encode; `crc` is its checksum (checksum.ts). `key`,
 *   `create_rev`, `version` and `lease` repeat fields of `kv` for what must not read values:
 *   the key index's rebuild at open (most of a restart), keys-only reads, watch catch-up's
 *   key filter. The table is keyed by revision, like etcd's bbolt key bucket, so writes
 *   only append; which revisions each key has is kept in memory (key_index.ts, etcd's
 *   treeIndex), rebuilt from this table at open. Keying the rows by key instead cost twice
 *   the CPU per random-key put; a (key, mod_rev) index and a table of current rows each
 *   cost one more random page per put. A head read is the key index's latest revision of
 *   the key and one primary-key lookup here.
 * - `meta` is one row: applied index/term (written in the same transaction as the effects
 *   of the entries they name), current and compacted revision.
 * - `leases` is the minimal lease registry a put checks; the lease module owns it.
 * - `members`, `members_removed`: the membership the log decided (members.ts owns them).
 * - `auth_meta`, `auth_users`, `auth_roles`: users, roles and the auth flag (auth_tables.ts holds them).
 */
import { Database } from "bun:sqlite";
import * as fs from "node:fs";
import { AUTH_DDL } from "./auth_tables.ts";
import { ALARMS_DDL } from "./alarm.ts";
import { MEMBERS_DDL } from "./members.ts";
import { convertHistory, isV5Layout } from "./layout_v5.ts";

/**
 * Bumped when the layout changes incompatibly; a store refuses a file it does not know.
 * 4: no `history_by_key` index and no `live` table, both replaced by the in-memory key
 * index (version 3 files are migrated by dropping them: `history` has everything).
 * 5: `history.crc`, each revision's checksum (version 4 files get the column and the
 * checksums of their rows when first opened: an older version must not write rows
 * without one, so it is refused the file).
 * 6: `history.kv`, the encoded KeyValue, in place of `value`, and a checksum of it (version
 * 4 and 5 files are converted when first opened, layout_v5.ts).
 */
export const SCHEMA_VERSION = 6;

/**
 * The history table as `name`. `kv` comes last: reading the columns before it does not
 * read a value spilled onto overflow pages.
 */
function historyDdl(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
  mod_rev INTEGER NOT NULL,
  sub INTEGER NOT NULL,
  key BLOB NOT NULL,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  crc INTEGER,
  kv BLOB NOT NULL,
  PRIMARY KEY (mod_rev, sub)
) WITHOUT ROWID;`;
}

const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  schema_version INTEGER NOT NULL,
  applied_index INTEGER NOT NULL,
  applied_term INTEGER NOT NULL,
  current_rev INTEGER NOT NULL,
  compact_rev INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta VALUES (0, ${SCHEMA_VERSION}, 0, 0, 1, -1);
${historyDdl("history")}
CREATE TABLE IF NOT EXISTS leases (
  id INTEGER PRIMARY KEY,
  ttl INTEGER NOT NULL DEFAULT 0,
  remaining_ttl INTEGER NOT NULL DEFAULT 0
);
${MEMBERS_DDL}`;

/** Connection options. */
export interface OpenOptions {
  /** SQLite page cache per connection, in KiB (bounds the store's share of RSS). */
  cacheKiB?: number;
  /**
   * Told before a store of an older layout is converted (a rewrite of every revision:
   * ~15 s per million here), with the schema version it has.
   */
  onConvert?: (fromVersion: number) => void;
}

/**
 * How much of the file reads map instead of copying through the page cache, as etcd maps
 * its bbolt file: reading 100 KB values (overflow pages) that the cache does not hold took
 * ~5 ms per MB through read(), ~0.5-1 ms mapped. Mapped pages are the kernel's page cache,
 * clean and reclaimable, though RSS counts those a read touched (as it does etcd's).
 */
export const MMAP_BYTES = 8 * 1024 * 1024 * 1024;

/** The default page cache: enough for the hot part of the tree, small next to etcd's RSS. */
export const DEFAULT_CACHE_KIB = 16 * 1024;

/**
 * Opens (creating if needed) a store database. `synchronous=NORMAL` is enough because
 * durability comes from the Raft log, which is replayed from the applied index after a
 * crash; SQLite only has to stay consistent.
 */
export function openDatabase(path: string, opts: OpenOptions = {}): Database {
  return open(path, opts, "WAL");
}

/**
 * Opens a new store file (`path` must not exist) to be filled in one transaction, a
 * restore's import: until `endBulkLoad`, its rollback journal is kept in memory instead of
 * the file being in WAL mode. Every page is then written once, to the file, where through
 * the WAL it was written twice (the log, then the checkpoint) and indexed in the WAL's
 * shared memory on the way: 1M keys imported in ~3.0 s instead of ~4.5 s. The journal only
 * holds the pages the file had when the transaction began (the empty schema), so it stays
 * small and ROLLBACK still works. A crash mid-load can leave the file broken, so the
 * caller loads it under a name no store is opened by.
 */
export function openForBulkLoad(path: string): Database {
  if (fs.existsSync(path)) throw new Error(`store: a bulk load needs a new file, ${path} exists`);
  return open(path, {}, "MEMORY");
}

function open(path: string, opts: OpenOptions, journal: "WAL" | "MEMORY"): Database {
  const db = new Database(path, { create: true, safeIntegers: true, strict: true });
  // Only takes effect on a new file, before its first table: lets defrag free pages in
  // small steps (incremental_vacuum) instead of one long VACUUM (see server/defrag.ts).
  db.run("PRAGMA auto_vacuum = INCREMENTAL");
  db.run(`PRAGMA journal_mode = ${journal}`);
  db.run("PRAGMA synchronous = NORMAL");
  db.run("PRAGMA temp_store = MEMORY");
  db.run(`PRAGMA cache_size = ${-Math.max(256, Math.floor(opts.cacheKiB ?? DEFAULT_CACHE_KIB))}`);
  db.run(`PRAGMA mmap_size = ${MMAP_BYTES}`);
  db.run("BEGIN IMMEDIATE");
  try {
    db.run(DDL);
    db.run(AUTH_DDL);
    db.run(ALARMS_DDL);
    migrate(db, opts.onConvert);
    db.run("COMMIT");
  } catch (err) {
    db.run("ROLLBACK");
    db.close();
    throw err;
  }
  const row = db.query("SELECT schema_version FROM meta WHERE id = 0").get() as
    | { schema_version: bigint }
    | null;
  if (row === null || row.schema_version !== BigInt(SCHEMA_VERSION)) {
    db.close();
    throw new Error(`store: unsupported schema version ${row?.schema_version} in ${path}`);
  }
  return db;
}

/** The number a pragma answers (its first column), e.g. "page_size" or "wal_checkpoint(TRUNCATE)". */
export function pragmaNumber(db: Database, pragma: string): number {
  return Number((db.query(`PRAGMA ${pragma}`).values()[0] as (number | bigint)[])[0]);
}

/**
 * Ends a bulk load (`openForBulkLoad`): the file goes into WAL mode, as every store
 * is. No transaction may be open; the load's commit already synced the file.
 */
export function endBulkLoad(db: Database): void {
  const mode = (db.query("PRAGMA journal_mode = WAL").values()[0] as string[])[0];
  if (mode !== "wal") throw new Error(`store: ${db.filename} stayed in journal mode ${mode}`);
}

/**
 * Brings the open database up to SCHEMA_VERSION after its contents were replaced by a copy
 * from another member, which may run an older version (store/copy.ts). No transaction may
 * be open.
 */
export function upgradeSchema(db: Database): void {
  db.transaction(() => migrate(db)).immediate();
}

/** Brings a file of an older layout this version can convert up to SCHEMA_VERSION, a step at a time. */
function migrate(db: Database, onConvert: (fromVersion: number) => void = () => {}): void {
  const version = () =>
    (db.query("SELECT schema_version FROM meta WHERE id = 0").get() as { schema_version: bigint })
      .schema_version;
  if (version() === 3n) {
    // The only change from 3: what these held moved into memory; their pages go to the freelist.
    db.run("DROP INDEX IF EXISTS history_by_key");
    db.run("DROP TABLE IF EXISTS live");
    db.run("UPDATE meta SET schema_version = 4 WHERE id = 0");
  }
  if (version() === 4n || version() === 5n) {
    // Every row rewritten once, in revision order into a new table (appends): about as
    // long as the key index's rebuild that follows. Checksums are compared on the way.
    if (isV5Layout(db)) {
      onConvert(Number(version()));
      db.run(historyDdl("history_v6"));
      convertHistory(db, "history_v6");
      db.run("DROP TABLE history");
      db.run("ALTER TABLE history_v6 RENAME TO history");
      // The old table's pages are free now: given back at once (~4 s per million
      // revisions), or the file would count them against the space quota until a defrag,
      // twice the store's size. A file made before incremental vacuum keeps them until then.
      if (pragmaNumber(db, "auto_vacuum") === 2) db.run("PRAGMA incremental_vacuum");
    }
    db.run("UPDATE meta SET schema_version = 6 WHERE id = 0");
  }
}
