/**
 * The auth tables of the store file: users and roles (etcd's authpb records, kept whole),
 * the enabled flag and the auth revision — etcd's auth buckets. Only rows are read and
 * written here; etcd's rules over them are server/auth/store.ts's.
 */
import type { Database, Statement } from "bun:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Role, RoleSchema, type User, UserSchema } from "../proto/gen/authpb/auth_pb.ts";

/** The tables (created with the store's schema). */
export const AUTH_DDL = `
CREATE TABLE IF NOT EXISTS auth_meta (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  enabled INTEGER NOT NULL,
  revision INTEGER NOT NULL
);
INSERT OR IGNORE INTO auth_meta VALUES (0, 0, 1);
CREATE TABLE IF NOT EXISTS auth_users (name TEXT PRIMARY KEY, user BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS auth_roles (name TEXT PRIMARY KEY, role BLOB NOT NULL) WITHOUT ROWID;
`;

/** The enabled flag and the auth revision. */
export interface AuthMeta {
  readonly enabled: boolean;
  readonly revision: bigint;
}

/** Row access to the auth tables of one store file. */
export class AuthTables {
  readonly #db: Database;
  readonly #putUser: Statement;
  readonly #delUser: Statement;
  readonly #putRole: Statement;
  readonly #delRole: Statement;
  readonly #saveMeta: Statement;

  constructor(db: Database) {
    this.#db = db;
    this.#putUser = db.prepare("INSERT OR REPLACE INTO auth_users (name, user) VALUES (?1, ?2)");
    this.#delUser = db.prepare("DELETE FROM auth_users WHERE name = ?1");
    this.#putRole = db.prepare("INSERT OR REPLACE INTO auth_roles (name, role) VALUES (?1, ?2)");
    this.#delRole = db.prepare("DELETE FROM auth_roles WHERE name = ?1");
    this.#saveMeta = db.prepare("UPDATE auth_meta SET enabled = ?1, revision = ?2 WHERE id = 0");
  }

  meta(): AuthMeta {
    const row = this.#db.query("SELECT enabled, revision FROM auth_meta WHERE id = 0")
      .values()[0] as bigint[];
    return { enabled: row[0] === 1n, revision: row[1] };
  }

  /** Every user, by name. */
  users(): Map<string, User> {
    const out = new Map<string, User>();
    const rows = this.#db.query("SELECT name, user FROM auth_users").values() as [string, Uint8Array][];
    for (const [name, blob] of rows) out.set(name, fromBinary(UserSchema, blob));
    return out;
  }

  /** Every role, by name. */
  roles(): Map<string, Role> {
    const out = new Map<string, Role>();
    const rows = this.#db.query("SELECT name, role FROM auth_roles").values() as [string, Uint8Array][];
    for (const [name, blob] of rows) out.set(name, fromBinary(RoleSchema, blob));
    return out;
  }

  putUser(name: string, u: User): void {
    this.#putUser.run(name, toBinary(UserSchema, u));
  }

  deleteUser(name: string): void {
    this.#delUser.run(name);
  }

  putRole(name: string, r: Role): void {
    this.#putRole.run(name, toBinary(RoleSchema, r));
  }

  deleteRole(name: string): void {
    this.#delRole.run(name);
  }

  saveMeta(meta: AuthMeta): void {
    this.#saveMeta.run(meta.enabled ? 1 : 0, meta.revision);
  }
}
