/**
 * The apply loop's second look at auth (etcd's authApplierV3): a request carries the user
 * and the auth revision the permission guard checked it at; a revocation that commits
 * between the check and the apply refuses the write. Deterministic: the entries are
 * applied in the order a race would put them, in one batch.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import {
  type InternalRaftRequest,
  RequestHeaderSchema,
} from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { Permission_Type } from "../../proto/gen/authpb/auth_pb.ts";
import { AlarmRequest_AlarmAction, AlarmType } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { b, Driver, put, req } from "./helpers.ts";

let d: Driver;
beforeEach(() => {
  d = new Driver(MvccStore.open(":memory:"));
  for (
    const r of [
      req({ authUserAdd: { name: "root", hashedPassword: "x" } }),
      req({ authUserGrantRole: { user: "root", role: "root" } }),
      req({ authUserAdd: { name: "alice", hashedPassword: "x" } }),
      req({ authRoleAdd: { name: "w" } }),
      req({
        authRoleGrantPermission: { name: "w", perm: { permType: Permission_Type.READWRITE, key: b("k") } },
      }),
      req({ authUserGrantRole: { user: "alice", role: "w" } }),
      req({ authEnable: {} }),
    ]
  ) d.ok(r);
});
afterEach(() => d.store.close());

/** `r` as the guard stamps it: checked for `username` at auth revision `rev`. */
function as(username: string, rev: bigint, r: InternalRaftRequest): InternalRaftRequest {
  r.header = create(RequestHeaderSchema, { username, authRevision: rev });
  return r;
}

test("a write checked before a revocation that applied first is refused as old; rechecked, it is denied", () => {
  const rev = d.state.auth.revision;
  const [first, revoke, raced] = d.apply(
    as("alice", rev, req({ put: put("k", "1") })),
    as("root", rev, req({ authRoleRevokePermission: { role: "w", key: b("k") } })),
    as("alice", rev, req({ put: put("k", "2") })),
  );
  expect(first.ok && revoke.ok).toBe(true);
  expect(!raced.ok && raced.error.message).toBe("etcdserver: revision of auth store is old");
  expect(d.keys("k")).toEqual(["k"]);
  expect(d.get("k").kvs[0].value).toEqual(b("1"));
  // A delete and a txn checked at the old revision are refused the same way.
  expect(d.fail(as("alice", rev, req({ deleteRange: { key: b("k") } }))).message).toBe(
    "etcdserver: revision of auth store is old",
  );
  expect(d.fail(as("alice", rev, req({ txn: { success: [] } }))).message).toBe(
    "etcdserver: revision of auth store is old",
  );
  // Stamped at the current revision it applies (the guard already said yes).
  expect(d.ok(as("alice", d.state.auth.revision, req({ put: put("k", "3") }))).revision).toBeGreaterThan(0n);
});

test("an admin request is checked against the roles at apply; unstamped requests are the server's own", () => {
  const rev = d.state.auth.revision;
  expect(d.fail(as("alice", rev, req({ authRoleAdd: { name: "x" } }))).message).toBe(
    "etcdserver: permission denied",
  );
  expect(d.fail(as("ghost", rev, req({ authUserList: {} }))).message).toBe("etcdserver: user name not found");
  // Admin checks ignore the revision, as etcd's IsAdminPermitted does.
  d.ok(as("root", rev - 3n, req({ authRoleAdd: { name: "y" } })));
  d.ok(req({ put: put("server-own", "1") }));
  // With auth disabled nothing is rechecked.
  d.ok(as("root", d.state.auth.revision, req({ authDisable: {} })));
  d.ok(as("alice", 1n, req({ put: put("k", "4") })));
});

test("raising or clearing an alarm is root's at apply too; listing them is anyone's", () => {
  const rev = d.state.auth.revision;
  const alarm = (action: AlarmRequest_AlarmAction) =>
    req({ alarm: { action, memberID: 1n, alarm: AlarmType.NOSPACE } });
  expect(d.fail(as("alice", rev, alarm(AlarmRequest_AlarmAction.ACTIVATE))).message).toBe(
    "etcdserver: permission denied",
  );
  expect(d.store.alarms()).toEqual([]);
  d.ok(as("alice", rev, alarm(AlarmRequest_AlarmAction.GET)));
  d.ok(as("root", rev, alarm(AlarmRequest_AlarmAction.ACTIVATE)));
  expect(d.fail(as("alice", rev, alarm(AlarmRequest_AlarmAction.DEACTIVATE))).message).toBe(
    "etcdserver: permission denied",
  );
  expect(d.store.alarms().length).toBe(1);
  // Unstamped requests are the server's own (it raises NOSPACE and CORRUPT itself): they pass.
  d.ok(alarm(AlarmRequest_AlarmAction.DEACTIVATE));
  expect(d.store.alarms()).toEqual([]);
});
