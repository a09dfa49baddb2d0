/**
 * Alarms (etcd's v3alarm.AlarmStore): which member raised which alarm. They live in the
 * store, written only by the apply loop, so every member agrees on them and a restart or a
 * snapshot keeps them. The store keeps them in its own terms (a member and etcd's AlarmType
 * number, the value the table holds); what a request makes of them (AlarmRequest, the
 * NOSPACE and CORRUPT gates) is in server/apply/alarm.ts.
 */
import type { Database } from "bun:sqlite";

/** The table; created with the rest of the schema (schema.ts includes it). */
export const ALARMS_DDL = `
CREATE TABLE IF NOT EXISTS alarms (
  member_id INTEGER NOT NULL,
  alarm INTEGER NOT NULL,
  PRIMARY KEY (member_id, alarm)
) WITHOUT ROWID;
`;

/** etcd's AlarmType numbers, as the table stores them. */
export const ALARM_NONE = 0;
export const ALARM_NOSPACE = 1;
export const ALARM_CORRUPT = 2;

/** One raised alarm: the member that raised it and etcd's AlarmType number. */
export interface RaisedAlarm {
  readonly memberID: bigint;
  readonly alarm: number;
}

/**
 * The raised alarms of `type` (ALARM_NONE = all), ordered by member then type. Member IDs
 * are uint64 stored as SQLite's int64: they round-trip through BigInt.asUintN.
 */
export function listAlarms(db: Database, type: number = ALARM_NONE): RaisedAlarm[] {
  const rows =
    (type === ALARM_NONE
      ? db.query("SELECT member_id, alarm FROM alarms ORDER BY member_id, alarm").values()
      : db.query("SELECT member_id, alarm FROM alarms WHERE alarm = ?1 ORDER BY member_id").values(
        type,
      )) as bigint[][];
  return rows.map((r) => ({ memberID: BigInt.asUintN(64, r[0]), alarm: Number(r[1]) }));
}

/** Raises `type` for `memberId` (raising it again changes nothing). */
export function raiseAlarm(db: Database, memberId: bigint, type: number): void {
  db.query("INSERT OR IGNORE INTO alarms (member_id, alarm) VALUES (?1, ?2)").run(
    BigInt.asIntN(64, memberId),
    type,
  );
}

/** Clears `type` for `memberId`; whether it was raised. */
export function clearAlarm(db: Database, memberId: bigint, type: number): boolean {
  return db.query("DELETE FROM alarms WHERE member_id = ?1 AND alarm = ?2").run(
    BigInt.asIntN(64, memberId),
    type,
  )
    .changes > 0;
}

/** Whether any alarm of `type` is raised. */
export function hasAlarm(db: Database, type: number): boolean {
  return db.query("SELECT 1 FROM alarms WHERE alarm = ?1 LIMIT 1").values(type).length > 0;
}

/**
 * The raised alarm types, read from the table once and kept until an applied alarm entry or
 * a store replacement calls `invalidate`: the gate runs for every applied request, and a
 * query per request cost ~3% of a put's CPU (measured).
 */
export class RaisedAlarms {
  readonly #db: Database;
  #types: ReadonlySet<number> | null = null;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The alarm types raised by any member. */
  types(): ReadonlySet<number> {
    if (this.#types === null) {
      const rows = this.#db.query("SELECT DISTINCT alarm FROM alarms").values() as bigint[][];
      this.#types = new Set(rows.map((r) => Number(r[0])));
    }
    return this.#types;
  }

  /** Forgets the cached types: the table changed. */
  invalidate(): void {
    this.#types = null;
  }
}
