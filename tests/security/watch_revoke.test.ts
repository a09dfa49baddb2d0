/**
 * Revoking a reader's role while it watches. etcd 3.4 (and 3.5) check a watch only when it
 * is created and keep delivering afterwards; etcdts cancels the watcher as soon as the
 * revocation applies, with the cancel reason etcd gives a refused create
 * ("etcdserver: permission denied"). The same script runs against both with the real
 * etcdctl as the watching client; our CLI must end the same way etcdctl does.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  etcdctl,
  ETCDCTL_BIN,
  ETCDTS_BIN,
  type ServerProcess,
  startServer,
  waitFor,
} from "../harness.ts";

import { Client } from "../../client/client.ts";
import { dec, enc, WatchSession } from "../watch/session.ts";

afterAll(cleanup);

const R = "--user=root:rootpw";

async function run(s: ServerProcess, args: string[]): Promise<void> {
  const r = await etcdctl(s.endpoint, args);
  if (r.code !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
}

async function setup(s: ServerProcess): Promise<void> {
  for (
    const args of [
      ["user", "add", "root:rootpw"],
      ["user", "add", "alice:apw"],
      ["role", "add", "reader"],
      ["role", "grant-permission", "reader", "read", "--prefix", "/r/"],
      ["user", "grant-role", "alice", "reader"],
      ["auth", "enable"],
    ]
  ) await run(s, args);
}

/** A watch command running in the background, its output collected as it comes. */
function watcher(cli: "etcdctl" | "etcdts", s: ServerProcess) {
  const bin = cli === "etcdctl" ? ETCDCTL_BIN : ETCDTS_BIN;
  const proc = Bun.spawn([bin, `--endpoints=${s.endpoint}`, "--user=alice:apw", "watch", "/r/", "--prefix"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  const out = { stdout: "", stderr: "" };
  const collect = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const dec = new TextDecoder();
    for await (const chunk of stream) out[key] += dec.decode(chunk);
  };
  void collect(proc.stdout, "stdout");
  void collect(proc.stderr, "stderr");
  return { proc, out };
}

/**
 * Once the watch delivers /r/1 ("one"), revokes alice's reader role and puts /r/2 ("two"),
 * each step acknowledged before the next.
 */
async function revokeWhileWatching(s: ServerProcess, out: { stdout: string }): Promise<void> {
  await waitFor("the watch to deliver", async () => {
    await run(s, [R, "put", "/r/1", "one"]);
    return out.stdout.includes("one");
  });
  await run(s, [R, "user", "revoke-role", "alice", "reader"]);
  await run(s, [R, "put", "/r/2", "two"]);
}

describe.each(CONFORMANCE_TARGETS)("revoking the role of a watching user on %s", (kind) => {
  const clis = kind === "etcdts" ? (["etcdctl", "etcdts"] as const) : (["etcdctl"] as const);
  for (const cli of clis) {
    test(`${cli} watching`, async () => {
      const s = await startServer(kind);
      await setup(s);
      const w = watcher(cli, s);
      try {
        await revokeWhileWatching(s, w.out);
        if (kind === "etcd") {
          // etcd 3.4 goes on delivering to a reader that lost its role.
          await waitFor("etcd to deliver after the revocation", () => w.out.stdout.includes("two"));
          return;
        }
        // clientv3 closes a cancelled watch without its reason; etcdctl says only this.
        const code = await w.proc.exited;
        expect(w.out.stdout).not.toContain("two");
        expect(w.out.stderr).toBe("Error: watch is canceled by the server\n");
        expect(code).toBe(5); // ExitInterrupted
      } finally {
        w.proc.kill();
      }
    }, 60_000);
  }

  test("on the wire: cancelled with etcd's permission-denied reason (etcd: delivered)", async () => {
    const s = await startServer(kind);
    await setup(s);
    const client = new Client({ endpoints: [s.endpoint], user: { name: "alice", password: "apw" } });
    const session = new WatchSession(client);
    try {
      const created = await session.watch({ key: enc("/r/"), rangeEnd: enc("/r0") });
      expect(created.created).toBe(true);
      await run(s, [R, "put", "/r/1", "one"]);
      expect((await session.next()).events.map((e) => dec(e.kv!.value))).toEqual(["one"]);
      await run(s, [R, "user", "revoke-role", "alice", "reader"]);
      await run(s, [R, "put", "/r/2", "two"]);
      const r = await session.next();
      if (kind === "etcd") {
        expect(r.events.map((e) => dec(e.kv!.value))).toEqual(["two"]);
        return;
      }
      expect([r.watchId, r.canceled, r.cancelReason, r.events.length]).toEqual([
        created.watchId,
        true,
        "etcdserver: permission denied",
        0,
      ]);
      // The stream stays open: a new watch is refused the way etcd refuses any.
      const again = await session.watch({ key: enc("/r/"), rangeEnd: enc("/r0") });
      expect([again.created, again.canceled, again.cancelReason]).toEqual([
        true,
        true,
        "etcdserver: permission denied",
      ]);
    } finally {
      session.close();
      client.close();
    }
  }, 60_000);

  test("a watcher on a range still granted by another role is kept", async () => {
    const s = await startServer(kind);
    await setup(s);
    await run(s, [R, "role", "add", "also"]);
    await run(s, [R, "role", "grant-permission", "also", "read", "--prefix", "/r/"]);
    await run(s, [R, "user", "grant-role", "alice", "also"]);
    const w = watcher("etcdctl", s);
    try {
      await revokeWhileWatching(s, w.out);
      await waitFor("delivery after an unrelated revocation", () => w.out.stdout.includes("two"));
      expect(w.proc.exitCode).toBeNull();
    } finally {
      w.proc.kill();
    }
  }, 60_000);
});
