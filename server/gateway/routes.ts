/**
 * The JSON gateway's routes: etcd's `google.api.http` annotations (rpc.proto, v3lock.proto,
 * v3election.proto), each an HTTP path mapped to the gRPC method it calls.
 */

/** HTTP path (under /v3/) → gRPC path, as etcd's annotations declare them. */
const ROUTES: Readonly<Record<string, string>> = {
  "kv/range": "/etcdserverpb.KV/Range",
  "kv/put": "/etcdserverpb.KV/Put",
  "kv/deleterange": "/etcdserverpb.KV/DeleteRange",
  "kv/txn": "/etcdserverpb.KV/Txn",
  "kv/compaction": "/etcdserverpb.KV/Compact",
  "watch": "/etcdserverpb.Watch/Watch",
  "lease/grant": "/etcdserverpb.Lease/LeaseGrant",
  "lease/revoke": "/etcdserverpb.Lease/LeaseRevoke",
  "kv/lease/revoke": "/etcdserverpb.Lease/LeaseRevoke",
  "lease/keepalive": "/etcdserverpb.Lease/LeaseKeepAlive",
  "lease/timetolive": "/etcdserverpb.Lease/LeaseTimeToLive",
  "kv/lease/timetolive": "/etcdserverpb.Lease/LeaseTimeToLive",
  "lease/leases": "/etcdserverpb.Lease/LeaseLeases",
  "kv/lease/leases": "/etcdserverpb.Lease/LeaseLeases",
  "cluster/member/add": "/etcdserverpb.Cluster/MemberAdd",
  "cluster/member/remove": "/etcdserverpb.Cluster/MemberRemove",
  "cluster/member/update": "/etcdserverpb.Cluster/MemberUpdate",
  "cluster/member/list": "/etcdserverpb.Cluster/MemberList",
  "cluster/member/promote": "/etcdserverpb.Cluster/MemberPromote",
  "maintenance/alarm": "/etcdserverpb.Maintenance/Alarm",
  "maintenance/status": "/etcdserverpb.Maintenance/Status",
  "maintenance/defragment": "/etcdserverpb.Maintenance/Defragment",
  // 3.4 annotates Hash and HashKV both as /hash, and Hash wins there; 3.5 moved HashKV to /hashkv.
  "maintenance/hash": "/etcdserverpb.Maintenance/Hash",
  "maintenance/hashkv": "/etcdserverpb.Maintenance/HashKV",
  "maintenance/snapshot": "/etcdserverpb.Maintenance/Snapshot",
  "maintenance/transfer-leadership": "/etcdserverpb.Maintenance/MoveLeader",
  "auth/enable": "/etcdserverpb.Auth/AuthEnable",
  "auth/disable": "/etcdserverpb.Auth/AuthDisable",
  "auth/authenticate": "/etcdserverpb.Auth/Authenticate",
  "auth/user/add": "/etcdserverpb.Auth/UserAdd",
  "auth/user/get": "/etcdserverpb.Auth/UserGet",
  "auth/user/list": "/etcdserverpb.Auth/UserList",
  "auth/user/delete": "/etcdserverpb.Auth/UserDelete",
  "auth/user/changepw": "/etcdserverpb.Auth/UserChangePassword",
  "auth/user/grant": "/etcdserverpb.Auth/UserGrantRole",
  "auth/user/revoke": "/etcdserverpb.Auth/UserRevokeRole",
  "auth/role/add": "/etcdserverpb.Auth/RoleAdd",
  "auth/role/get": "/etcdserverpb.Auth/RoleGet",
  "auth/role/list": "/etcdserverpb.Auth/RoleList",
  "auth/role/delete": "/etcdserverpb.Auth/RoleDelete",
  "auth/role/grant": "/etcdserverpb.Auth/RoleGrantPermission",
  "auth/role/revoke": "/etcdserverpb.Auth/RoleRevokePermission",
  "lock/lock": "/v3lockpb.Lock/Lock",
  "lock/unlock": "/v3lockpb.Lock/Unlock",
  "election/campaign": "/v3electionpb.Election/Campaign",
  "election/proclaim": "/v3electionpb.Election/Proclaim",
  "election/leader": "/v3electionpb.Election/Leader",
  "election/observe": "/v3electionpb.Election/Observe",
  "election/resign": "/v3electionpb.Election/Resign",
};

/**
 * The prefixes the gateway answers: /v3/, and the older /v3beta/ (etcd 3.4 rewrites it to
 * /v3/). etcd 3.3's /v3alpha/ is gone in 3.4, which answers it with a plain 404, and so
 * do we (the app's not-found fallback).
 */
export const GATEWAY_PREFIXES = ["/v3/", "/v3beta/"] as const;

/** The gRPC method an HTTP path calls, or null when the gateway has no such route. */
export function grpcPathFor(httpPath: string): string | null {
  for (const prefix of GATEWAY_PREFIXES) {
    if (httpPath.startsWith(prefix)) return ROUTES[httpPath.slice(prefix.length)] ?? null;
  }
  return null;
}

/** Every route as `/v3/...` → gRPC path, for tests and the docs. */
export function allRoutes(): readonly (readonly [string, string])[] {
  return Object.entries(ROUTES).map(([p, g]) => [`/v3/${p}`, g] as const);
}
