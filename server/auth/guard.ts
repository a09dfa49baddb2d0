/**
 * The permission guard: given a gRPC method, its request and the caller's credentials,
 * decides whether the call may proceed, with etcd's rules and error texts
 * (etcdserver/apply_auth.go, v3_server.go, api/v3rpc/maintenance.go):
 *
 * - Range/Put/DeleteRange/Txn need read or write permission on every key range they touch
 *   (a txn: its compares and all its operations, nested txns included, which etcd 3.5 added);
 * - LeaseRevoke needs write permission on every key attached to the lease, and
 *   LeaseTimeToLive listing keys read permission on every one (etcd 3.4.26's fix of
 *   CVE-2023-32082: 3.4.23 lists keys the caller may not read);
 * - auth management, Defragment, Snapshot, Hash, HashKV, MoveLeader, membership changes,
 *   and raising or clearing an alarm need the root role (etcd 3.4 lets anyone raise
 *   NOSPACE and so block everyone's writes; listing alarms stays open); UserGet is allowed on oneself, RoleGet on one's own roles;
 * - every other request that goes through the log still authenticates the token it carries
 *   (an invalid one is refused), but needs no permission.
 *
 * Called once per unary call from the gRPC layer, and per watch create request.
 */
import { prefixEnd } from "../../api/keys.ts";
import { Errors, type EtcdError } from "../../api/errors.ts";
import {
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  type DeleteRangeRequest,
  type LeaseTimeToLiveRequest,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
  type WatchCreateRequest,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Access, AuthStore } from "./store.ts";
import type { AuthInfo, TokenProvider } from "./tokens.ts";

/** Where the caller's credentials come from. */
export interface Credentials {
  /** gRPC metadata (`token`, or `authorization` from the JSON gateway). */
  readonly headers: Record<string, string | string[] | undefined>;
  /** CN of the verified client certificate, when there is one. */
  readonly peerCommonName?: string | null;
  /** Set by `check`: who was checked, at which auth revision (the apply loop checks again). */
  auth?: AuthInfo;
}

export interface GuardOptions {
  readonly auth: AuthStore;
  readonly tokens: TokenProvider;
  /** --client-cert-auth: a verified certificate's CN names the user when no token is given. */
  readonly clientCertAuth: boolean;
  /** Keys attached to a lease (for LeaseRevoke); empty until leases exist. */
  readonly leaseKeys?: (id: bigint) => readonly Uint8Array[];
}

/** The keys a recipe uses for `name`: everything under `name/`. */
function recipeRange(name: Uint8Array): [Uint8Array, Uint8Array] {
  const pfx = new Uint8Array(name.length + 1);
  pfx.set(name);
  pfx[name.length] = 0x2f; // "/"
  return [pfx, prefixEnd(pfx)];
}

type Check = (g: AuthGuard, who: AuthInfo | null, req: never) => EtcdError | null;

const admin: Check = (g, who) => g.admin(who);
/** Authenticates the token (refusing a bad one) but needs no permission: log requests etcd does not check. */
const authenticated: Check = () => null;

/**
 * Requests of a listed method that etcd does not check at all (not even the token): a
 * lease's TTL without its keys.
 */
const UNCHECKED: Record<string, (req: never) => boolean> = {
  "/etcdserverpb.Lease/LeaseTimeToLive": (r: LeaseTimeToLiveRequest) => !r.keys,
};

/** What each method needs; methods not listed need nothing (not even a valid token). */
const CHECKS: Record<string, Check> = {
  "/etcdserverpb.KV/Range": (g, who, r: RangeRequest) => g.range(who, "read", r.key, r.rangeEnd),
  "/etcdserverpb.KV/Put": (g, who, r: PutRequest) => g.put(who, r),
  "/etcdserverpb.KV/DeleteRange": (g, who, r: DeleteRangeRequest) => g.deleteRange(who, r),
  "/etcdserverpb.KV/Txn": (g, who, r: TxnRequest) => g.txn(who, r),
  "/etcdserverpb.KV/Compact": authenticated,
  "/etcdserverpb.Lease/LeaseGrant": authenticated,
  "/etcdserverpb.Lease/LeaseRevoke": (g, who, r: { ID: bigint }) => g.leaseRevoke(who, r.ID),
  "/etcdserverpb.Lease/LeaseTimeToLive": (g, who, r: LeaseTimeToLiveRequest) => g.leaseKeysRead(who, r.ID),
  // Lock and Election run etcd's recipes with the caller's rights (etcd's v3lock and
  // v3election call the KV API with the caller's token): read and write under the name.
  "/v3lockpb.Lock/Lock": (g, who, r: { name: Uint8Array }) => g.recipe(who, r.name),
  "/v3lockpb.Lock/Unlock": (g, who, r: { key: Uint8Array }) => g.range(who, "write", r.key, EMPTY),
  "/v3electionpb.Election/Campaign": (g, who, r: { name: Uint8Array }) => g.recipe(who, r.name),
  "/v3electionpb.Election/Proclaim": (g, who, r: { leader?: { key: Uint8Array } }) =>
    g.range(who, "write", r.leader?.key ?? EMPTY, EMPTY),
  "/v3electionpb.Election/Resign": (g, who, r: { leader?: { key: Uint8Array } }) =>
    g.range(who, "write", r.leader?.key ?? EMPTY, EMPTY),
  "/v3electionpb.Election/Leader": (g, who, r: { name: Uint8Array }) => g.recipeRead(who, r.name),
  "/v3electionpb.Election/Observe": (g, who, r: { name: Uint8Array }) => g.recipeRead(who, r.name),
  "/etcdserverpb.Auth/AuthEnable": admin,
  "/etcdserverpb.Auth/AuthDisable": admin,
  "/etcdserverpb.Auth/UserAdd": admin,
  "/etcdserverpb.Auth/UserDelete": admin,
  "/etcdserverpb.Auth/UserChangePassword": admin,
  "/etcdserverpb.Auth/UserGrantRole": admin,
  "/etcdserverpb.Auth/UserRevokeRole": admin,
  "/etcdserverpb.Auth/UserList": admin,
  "/etcdserverpb.Auth/RoleAdd": admin,
  "/etcdserverpb.Auth/RoleDelete": admin,
  "/etcdserverpb.Auth/RoleGrantPermission": admin,
  "/etcdserverpb.Auth/RoleRevokePermission": admin,
  "/etcdserverpb.Auth/RoleList": admin,
  "/etcdserverpb.Auth/UserGet": (g, who, r: { name: string }) =>
    who !== null && who.username === r.name && g.userExists(who) ? null : g.admin(who),
  "/etcdserverpb.Auth/RoleGet": (g, who, r: { role: string }) =>
    who !== null && g.hasRole(who, r.role) ? null : g.admin(who),
  "/etcdserverpb.Maintenance/Defragment": admin,
  "/etcdserverpb.Maintenance/Snapshot": admin,
  "/etcdserverpb.Maintenance/Hash": admin,
  "/etcdserverpb.Maintenance/HashKV": admin,
  "/etcdserverpb.Maintenance/MoveLeader": admin,
  "/etcdserverpb.Maintenance/Alarm": (g, who, r: AlarmRequest) =>
    r.action === AlarmRequest_AlarmAction.GET ? null : g.admin(who),
  "/etcdserverpb.Cluster/MemberAdd": admin,
  "/etcdserverpb.Cluster/MemberRemove": admin,
  "/etcdserverpb.Cluster/MemberUpdate": admin,
  "/etcdserverpb.Cluster/MemberPromote": admin,
};

/** Decides, per call, whether the caller may do what it asks. */
export class AuthGuard {
  readonly #o: GuardOptions;

  readonly #changeListeners = new Set<() => void>();

  constructor(opts: GuardOptions) {
    this.#o = opts;
  }

  /** An applied entry changed users, roles or the auth flag: tells the `onChange` subscribers. */
  authChanged(): void {
    for (const f of this.#changeListeners) f();
  }

  /** The token provider (the Auth service issues tokens with it). */
  get tokens(): TokenProvider {
    return this.#o.tokens;
  }

  /**
   * Checks one unary (or server-streaming) call: null to proceed, else the error to answer.
   * Cheap when auth is disabled: a boolean and a header lookup.
   */
  check(path: string, req: unknown, creds: Credentials): EtcdError | null {
    const check = UNCHECKED[path]?.(req as never) ? undefined : CHECKS[path];
    if (!this.#o.auth.enabled) return check === undefined ? null : this.#strayToken(creds);
    if (check === undefined) return null;
    const who = this.identify(creds);
    if (who !== null && "code" in who) return who;
    if (who !== null) creds.auth = who;
    return check(this, who, req as never);
  }

  /** A watch create request needs read permission on its range (etcd's isWatchPermitted). */
  checkWatch(req: WatchCreateRequest, creds: Credentials): EtcdError | null {
    if (!this.#o.auth.enabled) return this.#strayToken(creds);
    const who = this.identify(creds);
    if (who !== null && "code" in who) return who;
    if (who !== null) creds.auth = who;
    // etcd normalises the watch range before checking: an empty key is "\0", "\0" end is open.
    const key = req.key.length === 0 ? new Uint8Array([0]) : req.key;
    return this.range(who, "read", key, req.rangeEnd);
  }

  /**
   * Calls `f` after every applied auth change, until the returned function is called.
   * Watch streams use it to drop watchers whose reader lost the permission (etcd checks
   * only at create and keeps delivering; we cut them).
   */
  onChange(f: () => void): () => void {
    this.#changeListeners.add(f);
    return () => this.#changeListeners.delete(f);
  }

  /**
   * Whether `who` may still read [key, rangeEnd) with the users and roles of now. The
   * identity is the one recorded when the watch was created: neither the revision nor the
   * token's expiry matters to a stream that is already open.
   */
  stillReadable(who: AuthInfo, key: Uint8Array, rangeEnd: Uint8Array): boolean {
    const auth = this.#o.auth;
    if (!auth.enabled) return true;
    return auth.user(who.username) !== undefined && auth.isPermitted(who.username, "read", key, rangeEnd);
  }

  /**
   * With auth off, etcd still reads a token the caller sends (AuthInfoFromCtx runs before
   * the enabled check) and refuses one that names no one, e.g. one issued before
   * `auth disable`.
   */
  #strayToken(creds: Credentials): EtcdError | null {
    const who = this.identify(creds);
    return who !== null && "code" in who ? who : null;
  }

  /**
   * etcd's AuthInfoFromCtx: the token's identity; else, with --client-cert-auth, the
   * certificate's CN; else null (anonymous). A token that names no one is an error.
   */
  identify(creds: Credentials): AuthInfo | EtcdError | null {
    const token = first(creds.headers.token) ?? first(creds.headers.authorization);
    if (token !== undefined && token !== "") {
      const info = this.#o.tokens.info(token, this.#o.auth.revision);
      return info ?? Errors.InvalidAuthToken;
    }
    if (this.#o.clientCertAuth && creds.peerCommonName) {
      return { username: creds.peerCommonName, revision: this.#o.auth.revision };
    }
    return null;
  }

  /** etcd's isOpPermitted. */
  range(who: AuthInfo | null, access: Access, key: Uint8Array, rangeEnd: Uint8Array): EtcdError | null {
    const auth = this.#o.auth;
    if (who === null || who.revision === 0n) return Errors.UserEmpty;
    if (who.revision < auth.revision) return Errors.AuthOldRevision;
    if (auth.user(who.username) === undefined) return Errors.PermissionDenied;
    return auth.isPermitted(who.username, access, key, rangeEnd) ? null : Errors.PermissionDenied;
  }

  /** etcd's IsAdminPermitted. */
  admin(who: AuthInfo | null): EtcdError | null {
    if (who === null || who.username === "") return Errors.UserEmpty;
    if (this.#o.auth.user(who.username) === undefined) return Errors.UserNotFound;
    return this.#o.auth.isRoot(who.username) ? null : Errors.PermissionDenied;
  }

  userExists(who: AuthInfo): boolean {
    return this.#o.auth.user(who.username) !== undefined;
  }

  hasRole(who: AuthInfo, role: string): boolean {
    return this.#o.auth.hasRole(who.username, role);
  }

  put(who: AuthInfo | null, r: PutRequest): EtcdError | null {
    return this.range(who, "write", r.key, EMPTY) ??
      (r.lease !== 0n ? this.leaseRevoke(who, r.lease) : null) ??
      (r.prevKv ? this.range(who, "read", r.key, EMPTY) : null);
  }

  deleteRange(who: AuthInfo | null, r: DeleteRangeRequest): EtcdError | null {
    return this.range(who, "write", r.key, r.rangeEnd) ??
      (r.prevKv ? this.range(who, "read", r.key, r.rangeEnd) : null);
  }

  txn(who: AuthInfo | null, r: TxnRequest): EtcdError | null {
    for (const c of r.compare) {
      const err = this.range(who, "read", c.key, c.rangeEnd);
      if (err) return err;
    }
    return this.#ops(who, r.success) ?? this.#ops(who, r.failure);
  }

  #ops(who: AuthInfo | null, ops: readonly RequestOp[]): EtcdError | null {
    for (const op of ops) {
      const u = op.request;
      const err = u.case === "requestRange"
        ? this.range(who, "read", u.value.key, u.value.rangeEnd)
        : u.case === "requestPut"
        ? this.put(who, u.value)
        : u.case === "requestDeleteRange"
        ? this.deleteRange(who, u.value)
        : u.case === "requestTxn"
        ? this.txn(who, u.value)
        : null;
      if (err) return err;
    }
    return null;
  }

  /** A lock or campaign under `name`: the recipe reads and writes keys under `name/`. */
  recipe(who: AuthInfo | null, name: Uint8Array): EtcdError | null {
    return this.recipeRead(who, name) ?? this.range(who, "write", ...recipeRange(name));
  }

  /** Reading who holds `name` (Leader, Observe): the keys under `name/`. */
  recipeRead(who: AuthInfo | null, name: Uint8Array): EtcdError | null {
    return this.range(who, "read", ...recipeRange(name));
  }

  /** etcd's checkLeasePuts: write permission on every key attached to the lease. */
  leaseRevoke(who: AuthInfo | null, id: bigint): EtcdError | null {
    return this.#leaseKeys(who, "write", id);
  }

  /** etcd 3.4.26's checkLeaseTimeToLive: read permission on every key attached to the lease. */
  leaseKeysRead(who: AuthInfo | null, id: bigint): EtcdError | null {
    return who === null ? Errors.UserEmpty : this.#leaseKeys(who, "read", id);
  }

  #leaseKeys(who: AuthInfo | null, access: Access, id: bigint): EtcdError | null {
    for (const key of this.#o.leaseKeys?.(id) ?? []) {
      const err = this.range(who, access, key, EMPTY);
      if (err) return err;
    }
    return null;
  }
}

const EMPTY = new Uint8Array();

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
