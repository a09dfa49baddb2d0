/**
 * The replicated auth state: users, roles, the enabled flag and the auth revision, kept in
 * the store's SQLite file (store/auth_tables.ts: so it survives restarts and travels with
 * snapshots) and changed only by the apply loop, deterministically: entry by entry through
 * `apply`, or all at once when a leader's snapshot replaces the store (`reload`). etcd's
 * rules and error texts (auth/store.go). Reads (the permission guard) use an in-memory
 * copy that every change refreshes, so a permission check touches no SQL.
 *
 * Nothing here hashes or compares passwords: bcrypt runs on the member before proposing,
 * and the request carries the hash (etcd 3.5's hashedPassword).
 */
import { create } from "@bufbuild/protobuf";
import { Errors, type EtcdError } from "../../api/errors.ts";
import {
  type Permission,
  Permission_Type,
  PermissionSchema,
  type Role,
  RoleSchema,
  type User,
  UserSchema,
} from "../../proto/gen/authpb/auth_pb.ts";
import type { InternalRaftRequest } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import {
  AlarmRequest_AlarmAction,
  type AuthDisableResponse,
  type AuthEnableResponse,
  type AuthenticateResponse,
  type AuthRoleAddResponse,
  type AuthRoleDeleteResponse,
  type AuthRoleGetResponse,
  type AuthRoleGrantPermissionResponse,
  type AuthRoleListResponse,
  type AuthRoleRevokePermissionResponse,
  type AuthStatusResponse,
  type AuthUserAddResponse,
  type AuthUserChangePasswordResponse,
  type AuthUserDeleteResponse,
  type AuthUserGetResponse,
  type AuthUserGrantRoleResponse,
  type AuthUserListResponse,
  type AuthUserRevokeRoleResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { responseHeader } from "../apply/responses.ts";
import type { AuthTables } from "../../store/auth_tables.ts";

export const ROOT = "root";

/** The auth request kinds of InternalRaftRequest. */
export const AUTH_KINDS = [
  "authenticate",
  "authEnable",
  "authDisable",
  "authStatus",
  "authUserAdd",
  "authUserDelete",
  "authUserChangePassword",
  "authUserGrantRole",
  "authUserGet",
  "authUserRevokeRole",
  "authRoleAdd",
  "authRoleGrantPermission",
  "authRoleGet",
  "authRoleRevokePermission",
  "authRoleDelete",
  "authUserList",
  "authRoleList",
] as const satisfies readonly (keyof InternalRaftRequest)[];

export type AuthKind = typeof AUTH_KINDS[number];

/** Requests whose keys etcd checks again at apply (with the revision test). */
const KEY_WRITES: ReadonlySet<string> = new Set(["put", "deleteRange", "txn"]);

/** etcd's needAdminPermission: rechecked at apply against the current roles. */
const ADMIN_KINDS: ReadonlySet<string> = new Set<AuthKind>([
  "authEnable",
  "authDisable",
  "authUserAdd",
  "authUserDelete",
  "authUserChangePassword",
  "authUserGrantRole",
  "authUserRevokeRole",
  "authRoleAdd",
  "authRoleGrantPermission",
  "authRoleRevokePermission",
  "authRoleDelete",
  "authUserList",
  "authRoleList",
]);

/**
 * Raising or clearing an alarm is admin-only (etcd 3.4 lets any user raise NOSPACE and
 * block everyone's writes); listing them is open, as in etcd.
 */
function changesAlarms(req: InternalRaftRequest): boolean {
  return req.alarm !== undefined && req.alarm.action !== AlarmRequest_AlarmAction.GET;
}

/** Any response of an auth request. */
export type AuthResponse =
  | AuthenticateResponse
  | AuthEnableResponse
  | AuthDisableResponse
  | AuthStatusResponse
  | AuthUserAddResponse
  | AuthUserDeleteResponse
  | AuthUserChangePasswordResponse
  | AuthUserGrantRoleResponse
  | AuthUserGetResponse
  | AuthUserRevokeRoleResponse
  | AuthRoleAddResponse
  | AuthRoleGrantPermissionResponse
  | AuthRoleGetResponse
  | AuthRoleRevokePermissionResponse
  | AuthRoleDeleteResponse
  | AuthUserListResponse
  | AuthRoleListResponse;

/** What the server's token providers learn from applied entries (on every member). */
export interface AuthListener {
  /** An Authenticate entry was applied; `token` is set for simple tokens. */
  authenticated?(user: string, token: string): void;
  /** The user's password changed or the user was deleted: its tokens are void. */
  userInvalidated?(user: string): void;
  /** Auth was disabled, or a snapshot replaced users and roles: every token is void. */
  disabled?(): void;
  /** Users, roles or the enabled flag changed (an applied entry, or a snapshot's state). */
  changed?(): void;
}

/** READ or WRITE access; READWRITE grants both. */
export type Access = "read" | "write";

/** A half-open key interval; `end` null means unbounded. */
interface Interval {
  readonly start: Uint8Array;
  readonly end: Uint8Array | null;
}

/** etcd's auth rules over the store's auth tables, and the tables' in-memory image. */
export class AuthStore {
  readonly #tables: AuthTables;
  #enabled = false;
  #revision = 1n;
  #users = new Map<string, User>();
  #roles = new Map<string, Role>();
  readonly #permCache = new Map<string, { read: Interval[]; write: Interval[] }>();
  readonly #listeners: AuthListener[] = [];

  constructor(tables: AuthTables) {
    this.#tables = tables;
    this.reload();
  }

  /**
   * Reads the image again from the tables: at open, and after the store was replaced
   * whole (a snapshot from the leader), whose users, roles and flag may all differ.
   */
  reload(): void {
    const meta = this.#tables.meta();
    const before = { enabled: this.#enabled, revision: this.#revision };
    this.#enabled = meta.enabled;
    // etcd starts a new store's auth revision at 1 (0 means "no credentials"); older
    // data dirs of ours start at 0 and are read the same way.
    this.#revision = meta.revision === 0n ? 1n : meta.revision;
    this.#users = this.#tables.users();
    this.#roles = this.#tables.roles();
    this.#permCache.clear();
    // Every change but enabling moves the revision. When it moved, the entries in between
    // are not known (a disable and enable, a user deleted and added again with the same
    // hash), so no token issued before can be trusted: all are void, as after a disable.
    if (this.#revision !== before.revision) { for (const l of this.#listeners) l.disabled?.(); }
    if (this.#revision !== before.revision || this.#enabled !== before.enabled) {
      for (const l of this.#listeners) l.changed?.();
    }
  }

  /** Subscribes the server's token providers to applied auth changes. */
  listen(l: AuthListener): void {
    this.#listeners.push(l);
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** etcd's auth revision: +1 for every change of users, roles or the disabled flag. */
  get revision(): bigint {
    return this.#revision;
  }

  user(name: string): User | undefined {
    return this.#users.get(name);
  }

  /** Whether `name` is a user holding the root role. */
  isRoot(name: string): boolean {
    return this.#users.get(name)?.roles.includes(ROOT) ?? false;
  }

  /** Whether user `name` holds `role`. */
  hasRole(name: string, role: string): boolean {
    return this.#users.get(name)?.roles.includes(role) ?? false;
  }

  /**
   * Whether user `name` may access [key, rangeEnd) (etcd's conventions: empty rangeEnd is
   * the single key, "\0" is every key from `key` on): the union of the intervals its roles
   * grant must cover the whole request, as etcd's range permission cache decides.
   */
  isPermitted(name: string, access: Access, key: Uint8Array, rangeEnd: Uint8Array): boolean {
    if (this.isRoot(name)) return true;
    let perms = this.#permCache.get(name);
    if (perms === undefined) {
      perms = this.#permissionsOf(name);
      this.#permCache.set(name, perms);
    }
    return covers(perms[access], toInterval(key, rangeEnd));
  }

  #permissionsOf(name: string): { read: Interval[]; write: Interval[] } {
    const read: Interval[] = [];
    const write: Interval[] = [];
    for (const roleName of this.#users.get(name)?.roles ?? []) {
      for (const p of this.#roles.get(roleName)?.keyPermission ?? []) {
        const iv = toInterval(p.key, p.rangeEnd);
        if (p.permType !== Permission_Type.WRITE) read.push(iv);
        if (p.permType !== Permission_Type.READ) write.push(iv);
      }
    }
    const byStart = (a: Interval, b: Interval) => Buffer.compare(a.start, b.start);
    return { read: read.sort(byStart), write: write.sort(byStart) };
  }

  /**
   * etcd's apply-time check (authApplierV3) of a request the permission guard stamped
   * with the user and the auth revision it checked: a key write checked before the auth
   * state last changed is refused with ErrAuthOldRevision (clients re-authenticate and
   * retry), and an admin request is checked again against the users and roles of now.
   * Unstamped requests (the server's own, or made while auth was off) pass.
   */
  recheck(req: InternalRaftRequest, kind: keyof InternalRaftRequest): EtcdError | null {
    const h = req.header;
    if (!this.#enabled || h === undefined || (h.username === "" && h.authRevision === 0n)) return null;
    if (KEY_WRITES.has(kind)) return h.authRevision < this.#revision ? Errors.AuthOldRevision : null;
    if (!ADMIN_KINDS.has(kind) && !changesAlarms(req)) return null;
    const u = this.#users.get(h.username);
    if (u === undefined) return Errors.UserNotFound;
    return u.roles.includes(ROOT) ? null : Errors.PermissionDenied;
  }

  /** AuthStatus as served locally. */
  status(): AuthStatusResponse {
    return {
      $typeName: "etcdserverpb.AuthStatusResponse",
      header: responseHeader(0n),
      enabled: this.#enabled,
      authRevision: this.#revision,
    };
  }

  /**
   * Applies one auth request inside the caller's transaction. `index` is the entry's log
   * index (simple tokens end with it, as etcd's do).
   */
  apply<K extends AuthKind>(
    kind: K,
    req: NonNullable<InternalRaftRequest[K]>,
    index: bigint,
  ): AuthResponse | EtcdError {
    const before = this.#revision;
    const out = this.#apply(kind, req, index);
    if (this.#revision !== before) { for (const l of this.#listeners) l.changed?.(); }
    return out;
  }

  #apply<K extends AuthKind>(
    kind: K,
    req: NonNullable<InternalRaftRequest[K]>,
    index: bigint,
  ): AuthResponse | EtcdError {
    // deno-lint-ignore no-explicit-any
    const r = req as any;
    switch (kind) {
      case "authenticate":
        return this.#authenticate(r.name, r.simpleToken, index);
      case "authEnable":
        return this.#authEnable();
      case "authDisable":
        return this.#authDisable();
      case "authStatus":
        return this.status();
      case "authUserAdd":
        return this.#userAdd(r.name, r.hashedPassword, r.options?.noPassword ?? false);
      case "authUserDelete":
        return this.#userDelete(r.name);
      case "authUserChangePassword":
        return this.#userChangePassword(r.name, r.hashedPassword);
      case "authUserGrantRole":
        return this.#userGrantRole(r.user, r.role);
      case "authUserGet":
        return this.#userGet(r.name);
      case "authUserRevokeRole":
        return this.#userRevokeRole(r.name, r.role);
      case "authRoleAdd":
        return this.#roleAdd(r.name);
      case "authRoleGrantPermission":
        return this.#roleGrantPermission(r.name, r.perm);
      case "authRoleGet":
        return this.#roleGet(r.role);
      case "authRoleRevokePermission":
        return this.#roleRevokePermission(r.role, r.key, r.rangeEnd);
      case "authRoleDelete":
        return this.#roleDelete(r.role);
      case "authUserList":
        return resp("AuthUserListResponse", { users: [...this.#users.keys()].sort() });
      case "authRoleList":
        return resp("AuthRoleListResponse", { roles: [...this.#roles.keys()].sort() });
    }
    throw new Error(`store: unknown auth request kind ${kind}`);
  }

  #authenticate(name: string, simpleToken: string, index: bigint): AuthResponse | EtcdError {
    if (!this.#enabled) return Errors.AuthNotEnabled;
    const u = this.#users.get(name);
    if (u === undefined || u.options?.noPassword) return Errors.AuthFailed;
    const token = simpleToken === "" ? "" : `${simpleToken}.${index}`;
    for (const l of this.#listeners) l.authenticated?.(name, token);
    return resp("AuthenticateResponse", { token });
  }

  #authEnable(): AuthResponse | EtcdError {
    if (this.#enabled) return resp("AuthEnableResponse", {});
    const root = this.#users.get(ROOT);
    if (root === undefined) return Errors.RootUserNotExist;
    if (!root.roles.includes(ROOT)) return Errors.RootRoleNotExist;
    this.#enabled = true;
    this.#tables.saveMeta({ enabled: true, revision: this.#revision });
    return resp("AuthEnableResponse", {});
  }

  #authDisable(): AuthResponse | EtcdError {
    if (this.#enabled) {
      this.#enabled = false;
      this.#commit();
      for (const l of this.#listeners) l.disabled?.();
    }
    return resp("AuthDisableResponse", {});
  }

  #userAdd(name: string, hashed: string, noPassword: boolean): AuthResponse | EtcdError {
    if (name === "") return Errors.UserEmpty;
    if (this.#users.has(name)) return Errors.UserAlreadyExist;
    this.#saveUser(create(UserSchema, {
      name: utf8(name),
      password: noPassword ? new Uint8Array() : utf8(hashed),
      options: { noPassword },
    }));
    return resp("AuthUserAddResponse", {});
  }

  #userDelete(name: string): AuthResponse | EtcdError {
    if (this.#enabled && name === ROOT) return Errors.InvalidAuthMgmt;
    if (!this.#users.has(name)) return Errors.UserNotFound;
    this.#users.delete(name);
    this.#tables.deleteUser(name);
    this.#commit();
    for (const l of this.#listeners) l.userInvalidated?.(name);
    return resp("AuthUserDeleteResponse", {});
  }

  #userChangePassword(name: string, hashed: string): AuthResponse | EtcdError {
    const u = this.#users.get(name);
    if (u === undefined) return Errors.UserNotFound;
    this.#saveUser(create(UserSchema, { ...u, password: utf8(hashed) }));
    for (const l of this.#listeners) l.userInvalidated?.(name);
    return resp("AuthUserChangePasswordResponse", {});
  }

  #userGrantRole(name: string, role: string): AuthResponse | EtcdError {
    const u = this.#users.get(name);
    if (u === undefined) return Errors.UserNotFound;
    if (role !== ROOT && !this.#roles.has(role)) return Errors.RoleNotFound;
    if (u.roles.includes(role)) return resp("AuthUserGrantRoleResponse", {});
    this.#saveUser(create(UserSchema, { ...u, roles: [...u.roles, role].sort() }));
    return resp("AuthUserGrantRoleResponse", {});
  }

  #userGet(name: string): AuthResponse | EtcdError {
    const u = this.#users.get(name);
    if (u === undefined) return Errors.UserNotFound;
    return resp("AuthUserGetResponse", { roles: [...u.roles] });
  }

  #userRevokeRole(name: string, role: string): AuthResponse | EtcdError {
    if (this.#enabled && name === ROOT && role === ROOT) return Errors.InvalidAuthMgmt;
    const u = this.#users.get(name);
    if (u === undefined) return Errors.UserNotFound;
    if (!u.roles.includes(role)) return Errors.RoleNotGranted;
    this.#saveUser(create(UserSchema, { ...u, roles: u.roles.filter((r) => r !== role) }));
    return resp("AuthUserRevokeRoleResponse", {});
  }

  #roleAdd(name: string): AuthResponse | EtcdError {
    if (name === "") return Errors.RoleEmpty;
    if (this.#roles.has(name)) return Errors.RoleAlreadyExist;
    this.#saveRole(create(RoleSchema, { name: utf8(name) }));
    return resp("AuthRoleAddResponse", {});
  }

  #roleGrantPermission(name: string, p: Permission | undefined): AuthResponse | EtcdError {
    if (p === undefined) return Errors.PermissionNotGiven;
    const role = this.#roles.get(name);
    if (role === undefined) return Errors.RoleNotFound;
    const same = (q: Permission) => bytesEqual(q.key, p.key) && bytesEqual(q.rangeEnd, p.rangeEnd);
    const kept = role.keyPermission.filter((q) => !same(q));
    const next = [
      ...kept,
      create(PermissionSchema, { permType: p.permType, key: p.key, rangeEnd: p.rangeEnd }),
    ]
      .sort((a, b) => Buffer.compare(a.key, b.key));
    this.#saveRole(create(RoleSchema, { name: role.name, keyPermission: next }));
    return resp("AuthRoleGrantPermissionResponse", {});
  }

  #roleGet(name: string): AuthResponse | EtcdError {
    const role = this.#roles.get(name);
    if (role === undefined) return Errors.RoleNotFound;
    return resp("AuthRoleGetResponse", { perm: role.keyPermission.map((p) => create(PermissionSchema, p)) });
  }

  #roleRevokePermission(name: string, key: Uint8Array, rangeEnd: Uint8Array): AuthResponse | EtcdError {
    const role = this.#roles.get(name);
    if (role === undefined) return Errors.RoleNotFound;
    const kept = role.keyPermission.filter((q) =>
      !(bytesEqual(q.key, key) && bytesEqual(q.rangeEnd, rangeEnd))
    );
    if (kept.length === role.keyPermission.length) return Errors.PermissionNotGranted;
    this.#saveRole(create(RoleSchema, { name: role.name, keyPermission: kept }));
    return resp("AuthRoleRevokePermissionResponse", {});
  }

  #roleDelete(name: string): AuthResponse | EtcdError {
    if (this.#enabled && name === ROOT) return Errors.InvalidAuthMgmt;
    if (!this.#roles.has(name)) return Errors.RoleNotFound;
    this.#roles.delete(name);
    this.#tables.deleteRole(name);
    for (const u of [...this.#users.values()]) {
      if (u.roles.includes(name)) {
        this.#saveUser(create(UserSchema, { ...u, roles: u.roles.filter((r) => r !== name) }));
      }
    }
    this.#commit();
    return resp("AuthRoleDeleteResponse", {});
  }

  #saveUser(u: User): void {
    const name = new TextDecoder().decode(u.name);
    this.#users.set(name, u);
    this.#tables.putUser(name, u);
    this.#commit();
  }

  #saveRole(r: Role): void {
    const name = new TextDecoder().decode(r.name);
    this.#roles.set(name, r);
    this.#tables.putRole(name, r);
    this.#commit();
  }

  /** etcd's commitRevision: every change bumps the revision and voids cached permissions. */
  #commit(): void {
    this.#revision++;
    this.#permCache.clear();
    this.#tables.saveMeta({ enabled: this.#enabled, revision: this.#revision });
  }
}

type ResponseName = AuthResponse["$typeName"] extends `etcdserverpb.${infer N}` ? N : never;

function resp<N extends ResponseName>(
  name: N,
  fields: Omit<Extract<AuthResponse, { $typeName: `etcdserverpb.${N}` }>, "$typeName" | "header">,
): AuthResponse {
  return {
    $typeName: `etcdserverpb.${name}`,
    header: responseHeader(0n),
    ...fields,
  } as unknown as AuthResponse;
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** etcd's key/rangeEnd conventions as a half-open interval. */
function toInterval(key: Uint8Array, rangeEnd: Uint8Array): Interval {
  if (rangeEnd.length === 0) {
    const end = new Uint8Array(key.length + 1);
    end.set(key);
    return { start: key, end };
  }
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: key, end: null };
  return { start: key, end: rangeEnd };
}

/** Whether the union of `ivs` (sorted by start) covers `want`. */
function covers(ivs: readonly Interval[], want: Interval): boolean {
  if (want.end !== null && Buffer.compare(want.start, want.end) >= 0) return ivs.length > 0;
  let reached = want.start;
  for (const iv of ivs) {
    if (Buffer.compare(iv.start, reached) > 0) break;
    if (iv.end === null) return true;
    if (Buffer.compare(iv.end, reached) > 0) reached = iv.end;
    if (want.end !== null && Buffer.compare(reached, want.end) >= 0) return true;
  }
  return false;
}
