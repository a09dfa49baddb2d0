/**
 * The state machine over a store replaced whole by a leader's snapshot: what the auth
 * rules read (users, roles, permissions, the enabled flag) is the copy's, and the token
 * providers hear that tokens are void when the auth state moved. The member's apply loop
 * going through it is tests/cluster/snapshot.test.ts's.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MvccStore } from "../../store/mvcc.ts";
import { Permission_Type } from "../../proto/gen/authpb/auth_pb.ts";
import { b, Driver, req } from "../store/helpers.ts";

const dirs: string[] = [];
const stores: MvccStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "etcdts-state-machine-"));
  dirs.push(dir);
  return dir;
}

/** A store in a file (a snapshot copies the file). */
function driver(): Driver {
  const store = MvccStore.open(join(scratch(), "db"));
  stores.push(store);
  return new Driver(store);
}

/** A copy of `d`'s store, as the leader sends it with a snapshot. */
async function copyOf(d: Driver): Promise<string> {
  const file = join(scratch(), "copy.db");
  await d.store.copyTo(file);
  return file;
}

/** A store with auth on: root, and alice who may read "k" through role r. */
function withAuth(): Driver {
  const d = driver();
  d.ok(req({ authUserAdd: { name: "root", hashedPassword: "x" } }));
  d.ok(req({ authUserGrantRole: { user: "root", role: "root" } }));
  d.ok(req({ authUserAdd: { name: "alice", hashedPassword: "y" } }));
  d.ok(req({ authRoleAdd: { name: "r" } }));
  d.ok(
    req({ authRoleGrantPermission: { name: "r", perm: { permType: Permission_Type.READ, key: b("k") } } }),
  );
  d.ok(req({ authUserGrantRole: { user: "alice", role: "r" } }));
  d.ok(req({ authEnable: {} }));
  return d;
}

/** What the token providers hear from `d`'s auth store. */
function heardBy(d: Driver): string[] {
  const heard: string[] = [];
  d.state.auth.listen({
    userInvalidated: (u) => heard.push(`invalidated ${u}`),
    disabled: () => heard.push("disabled"),
    changed: () => heard.push("changed"),
  });
  return heard;
}

const EMPTY = new Uint8Array();

test("a snapshot installed from the leader brings its users, roles and auth flag to the auth rules", async () => {
  const leader = withAuth();
  const follower = driver();
  expect(follower.state.auth.enabled).toBe(false);
  follower.state.installCopy(await copyOf(leader));
  expect(follower.state.auth.enabled).toBe(true);
  expect(follower.state.auth.user("alice")).toBeDefined();
  expect(follower.state.auth.hasRole("alice", "r")).toBe(true);
  expect(follower.state.auth.isPermitted("alice", "read", b("k"), EMPTY)).toBe(true);
  expect(follower.state.auth.revision).toBe(leader.state.auth.revision);
});

test("permissions cached before the install are not used after it", async () => {
  const follower = withAuth();
  expect(follower.state.auth.isPermitted("alice", "read", b("k"), EMPTY)).toBe(true);
  const leader = withAuth();
  leader.ok(req({ authRoleRevokePermission: { role: "r", key: b("k") } }));
  follower.state.installCopy(await copyOf(leader));
  expect(follower.state.auth.isPermitted("alice", "read", b("k"), EMPTY)).toBe(false);
});

test("a snapshot whose auth revision moved voids every token; one with the same auth state voids none", async () => {
  const follower = withAuth();
  const heard = heardBy(follower);
  follower.state.installCopy(await copyOf(withAuth()));
  expect(heard).toEqual([]);

  const leader = withAuth();
  leader.ok(req({ authUserAdd: { name: "bob", hashedPassword: "z" } }));
  follower.state.installCopy(await copyOf(leader));
  expect(heard).toEqual(["disabled", "changed"]);
  expect(follower.state.auth.user("bob")).toBeDefined();
});
