/**
 * Cluster membership as the log decided it: every member applies the same conf changes
 * and attribute updates, so every member's table agrees (etcd keeps the same in its
 * backend's `members` and `members_removed` buckets).
 */
import type { Database } from "bun:sqlite";

/** One member of the cluster. */
export interface MemberRecord {
  readonly id: bigint;
  /** Empty until the member publishes its attributes (a member added but not started). */
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/** A membership change, decoded from a conf change entry. */
export type MemberChange =
  | { readonly kind: "add"; readonly member: MemberRecord }
  | { readonly kind: "remove"; readonly id: bigint }
  | { readonly kind: "promote"; readonly id: bigint }
  | { readonly kind: "update"; readonly id: bigint; readonly peerUrls: readonly string[] };

export const MEMBERS_DDL = `
CREATE TABLE IF NOT EXISTS members (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  peer_urls TEXT NOT NULL,
  client_urls TEXT NOT NULL,
  is_learner INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members_removed (id INTEGER PRIMARY KEY);
`;

/** SQLite integers are signed: member IDs (uint64) are stored as their two's complement. */
function toSql(id: bigint): bigint {
  return BigInt.asIntN(64, id);
}

function fromSql(id: bigint): bigint {
  return BigInt.asUintN(64, id);
}

/** Applies one conf change to the membership tables (inside the apply transaction). */
export function applyMemberChange(db: Database, change: MemberChange): void {
  switch (change.kind) {
    case "add": {
      const m = change.member;
      db.query(
        "INSERT OR REPLACE INTO members (id, name, peer_urls, client_urls, is_learner) VALUES (?1, ?2, ?3, ?4, ?5)",
      ).run(
        toSql(m.id),
        m.name,
        JSON.stringify(m.peerUrls),
        JSON.stringify(m.clientUrls),
        m.isLearner ? 1 : 0,
      );
      return;
    }
    case "remove":
      db.query("DELETE FROM members WHERE id = ?1").run(toSql(change.id));
      db.query("INSERT OR IGNORE INTO members_removed (id) VALUES (?1)").run(toSql(change.id));
      return;
    case "promote":
      db.query("UPDATE members SET is_learner = 0 WHERE id = ?1").run(toSql(change.id));
      return;
    case "update":
      db.query("UPDATE members SET peer_urls = ?2 WHERE id = ?1").run(
        toSql(change.id),
        JSON.stringify(change.peerUrls),
      );
      return;
  }
}

/** Records a member's published name and client URLs. */
export function setMemberAttributes(
  db: Database,
  attrs: { id: bigint; name: string; clientUrls: readonly string[] },
): void {
  db.query("UPDATE members SET name = ?2, client_urls = ?3 WHERE id = ?1").run(
    toSql(attrs.id),
    attrs.name,
    JSON.stringify(attrs.clientUrls),
  );
}

/** Every current member, in ID order (as etcd lists them). */
export function listMembers(db: Database): MemberRecord[] {
  const rows = db.query("SELECT id, name, peer_urls, client_urls, is_learner FROM members").values() as [
    bigint,
    string,
    string,
    string,
    bigint,
  ][];
  return rows.map(([id, name, peer, client, learner]) => ({
    id: fromSql(id),
    name,
    peerUrls: JSON.parse(peer) as string[],
    clientUrls: JSON.parse(client) as string[],
    isLearner: learner !== 0n,
  })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** IDs of members removed from the cluster: they may never rejoin with the same ID. */
export function removedMembers(db: Database): Set<bigint> {
  const rows = db.query("SELECT id FROM members_removed").values() as [bigint][];
  return new Set(rows.map(([id]) => fromSql(id)));
}
