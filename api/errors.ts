/**
 * etcd's client-visible errors: a gRPC status code and etcd's exact message text.
 *
 * Clients (clientv3, etcdctl, Kubernetes) match on these strings, so they are part of
 * the protocol. Inside etcdts an expected failure is returned as an `EtcdError` value;
 * the gRPC layer turns it into a status, the CLI prints its message.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type Code = typeof Code[keyof typeof Code];

/** An expected failure, as a value. `code` is never OK. */
export interface EtcdError {
  readonly code: Exclude<Code, 0>;
  readonly message: string;
}

/** Narrows a union of result and error. */
export function isEtcdError(x: unknown): x is EtcdError {
  return typeof x === "object" && x !== null && (x as { [errorBrand]?: true })[errorBrand] === true;
}

const errorBrand = Symbol("EtcdError");

/** Makes an error value; use the catalog below for etcd's own errors. */
export function etcdError(code: Exclude<Code, 0>, message: string): EtcdError {
  return Object.freeze({ code, message, [errorBrand]: true });
}

const e = etcdError;

/** etcd's errors by name (etcd's `rpctypes` names without the `ErrGRPC` prefix). */
export const Errors = {
  EmptyKey: e(Code.InvalidArgument, "etcdserver: key is not provided"),
  KeyNotFound: e(Code.InvalidArgument, "etcdserver: key not found"),
  ValueProvided: e(Code.InvalidArgument, "etcdserver: value is provided"),
  LeaseProvided: e(Code.InvalidArgument, "etcdserver: lease is provided"),
  TooManyOps: e(Code.InvalidArgument, "etcdserver: too many operations in txn request"),
  DuplicateKey: e(Code.InvalidArgument, "etcdserver: duplicate key given in txn request"),
  Compacted: e(Code.OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
  FutureRev: e(Code.OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
  NoSpace: e(Code.ResourceExhausted, "etcdserver: mvcc: database space exceeded"),

  LeaseNotFound: e(Code.NotFound, "etcdserver: requested lease not found"),
  LeaseExist: e(Code.FailedPrecondition, "etcdserver: lease already exists"),
  LeaseTTLTooLarge: e(Code.OutOfRange, "etcdserver: too large lease TTL"),
  WatchCanceled: e(Code.Canceled, "etcdserver: watch canceled"),

  MemberExist: e(Code.FailedPrecondition, "etcdserver: member ID already exist"),
  PeerURLExist: e(Code.FailedPrecondition, "etcdserver: Peer URLs already exists"),
  MemberNotEnoughStarted: e(
    Code.FailedPrecondition,
    "etcdserver: re-configuration failed due to not enough started members",
  ),
  MemberBadURLs: e(Code.InvalidArgument, "etcdserver: given member URLs are invalid"),
  MemberNotFound: e(Code.NotFound, "etcdserver: member not found"),
  MemberNotLearner: e(Code.FailedPrecondition, "etcdserver: can only promote a learner member"),
  LearnerNotReady: e(
    Code.FailedPrecondition,
    "etcdserver: can only promote a learner member which is in sync with leader",
  ),
  TooManyLearners: e(Code.FailedPrecondition, "etcdserver: too many learner members in cluster"),

  RequestTooLarge: e(Code.InvalidArgument, "etcdserver: request is too large"),
  TooManyRequests: e(Code.ResourceExhausted, "etcdserver: too many requests"),

  RootUserNotExist: e(Code.FailedPrecondition, "etcdserver: root user does not exist"),
  RootRoleNotExist: e(Code.FailedPrecondition, "etcdserver: root user does not have root role"),
  UserAlreadyExist: e(Code.FailedPrecondition, "etcdserver: user name already exists"),
  UserEmpty: e(Code.InvalidArgument, "etcdserver: user name is empty"),
  UserNotFound: e(Code.FailedPrecondition, "etcdserver: user name not found"),
  RoleAlreadyExist: e(Code.FailedPrecondition, "etcdserver: role name already exists"),
  RoleNotFound: e(Code.FailedPrecondition, "etcdserver: role name not found"),
  RoleEmpty: e(Code.InvalidArgument, "etcdserver: role name is empty"),
  AuthFailed: e(Code.InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
  PermissionDenied: e(Code.PermissionDenied, "etcdserver: permission denied"),
  RoleNotGranted: e(Code.FailedPrecondition, "etcdserver: role is not granted to the user"),
  PermissionNotGranted: e(Code.FailedPrecondition, "etcdserver: permission is not granted to the role"),
  AuthNotEnabled: e(Code.FailedPrecondition, "etcdserver: authentication is not enabled"),
  InvalidAuthToken: e(Code.Unauthenticated, "etcdserver: invalid auth token"),
  InvalidAuthMgmt: e(Code.InvalidArgument, "etcdserver: invalid auth management"),
  AuthOldRevision: e(Code.InvalidArgument, "etcdserver: revision of auth store is old"),
  /** etcd 3.4 and 3.5 leak this one unwrapped: a plain Go error, so gRPC's Unknown. */
  NoPasswordUser: e(Code.Unknown, "auth: authentication failed, password was given for no password user"),
  /** A grant without a permission: etcd 3.4 crashes on it, 3.5 answers this. */
  PermissionNotGiven: e(Code.InvalidArgument, "etcdserver: permission not given"),

  NoLeader: e(Code.Unavailable, "etcdserver: no leader"),
  NotLeader: e(Code.FailedPrecondition, "etcdserver: not leader"),
  LeaderChanged: e(Code.Unavailable, "etcdserver: leader changed"),
  NotCapable: e(Code.Unavailable, "etcdserver: not capable"),
  Stopped: e(Code.Unavailable, "etcdserver: server stopped"),
  Timeout: e(Code.Unavailable, "etcdserver: request timed out"),
  /** A proposal raft never took (no leader until its deadline): etcd returns Propose's context error. */
  ProposalDeadline: e(Code.Unknown, "context deadline exceeded"),
  TimeoutDueToLeaderFail: e(
    Code.Unavailable,
    "etcdserver: request timed out, possibly due to previous leader failure",
  ),
  TimeoutDueToConnectionLost: e(
    Code.Unavailable,
    "etcdserver: request timed out, possibly due to connection lost",
  ),
  TimeoutWaitAppliedIndex: e(
    Code.Unavailable,
    "etcdserver: request timed out, waiting for the applied index took too long",
  ),
  Unhealthy: e(Code.Unavailable, "etcdserver: unhealthy cluster"),
  Corrupt: e(Code.DataLoss, "etcdserver: corrupt cluster"),
  NotSupportedForLearner: e(Code.Unavailable, "etcdserver: rpc not supported for learner"),
  BadLeaderTransferee: e(Code.FailedPrecondition, "etcdserver: bad leader transferee"),
  TimeoutLeaderTransfer: e(Code.Unavailable, "etcdserver: request timed out, leader transfer took too long"),
} as const;
