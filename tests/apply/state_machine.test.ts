/**
 * The state machine over a store replaced whole by a leader's snapshot: what the auth
 * rules read (users, roles, the enabled flag) is the copy's, and the token providers hear
 * what the replacement voided, as they would have from the entries themselves.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MvccStore } from "../../store/mvcc.ts";
import { Driver, req } from "../store/helpers.ts";

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

function leaderWithAuth(): Driver {
  const leader = driver();
  leader.ok(req({ authUserAdd: { name: "root", hashedPassword: "x" } }));
  leader.ok(req({ authUserGrantRole: { user: "root", role: "root" } }));
  leader.ok(req({ authUserAdd: { name: "alice", hashedPassword: "y" } }));
  leader.ok(req({ authEnable: {} }));
  return leader;
}

test("a snapshot installed from the leader brings its users, roles and auth flag to the auth rules", async () => {
  const leader = leaderWithAuth();
  const follower = driver();
  expect(follower.state.auth.enabled).toBe(false);
  follower.state.installCopy(await copyOf(leader));
  expect(follower.state.auth.enabled).toBe(true);
  expect(follower.state.auth.user("alice")).toBeDefined();
  expect(follower.state.auth.isRoot("root")).toBe(true);
  expect(follower.state.auth.revision).toBe(leader.state.auth.revision);
});

test("what a replacing snapshot voids is told to the token providers", async () => {
  const follower = leaderWithAuth();
  const heard: string[] = [];
  follower.state.auth.listen({
    userInvalidated: (u) => heard.push(`invalidated ${u}`),
    disabled: () => heard.push("disabled"),
    changed: () => heard.push("changed"),
  });
  const leader = driver();
  leader.ok(req({ authUserAdd: { name: "root", hashedPassword: "other" } }));
  follower.state.installCopy(await copyOf(leader));
  expect(follower.state.auth.enabled).toBe(false);
  expect(heard).toEqual(["invalidated root", "invalidated alice", "disabled", "changed"]);
});
