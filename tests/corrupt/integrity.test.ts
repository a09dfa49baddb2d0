/**
 * Stored values are checksummed, on real processes. One byte of a stored value is flipped
 * through SQLite while the member is stopped, as a failing disk would: `check integrity
 * --data-dir` names the key and revision and fails; the restarted member refuses to serve
 * the value, to hash it (HashKV), to save it in a snapshot or to defragment over it, logs
 * the key and revision and raises CORRUPT; the scrub finds such damage where nobody reads.
 * An undamaged store passes.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanup, etcdts, ETCDTS_BIN, run, startServer, tempDir, waitFor } from "../harness.ts";
import { CORRUPT_ALARM, flipByte, ok, stoppedMember } from "./damage.ts";

afterAll(cleanup);

function checkIntegrity(dataDir: string) {
  return run([ETCDTS_BIN, "check", "integrity", "--data-dir", dataDir]);
}

test("check integrity: an undamaged store passes, a flipped byte is named by key and revision", async () => {
  const { dataDir, k5 } = await stoppedMember(["--experimental-integrity-scrub-interval=0"]);
  // 10 puts and the member's own entries: whatever the count, all of them match.
  const sound = await checkIntegrity(dataDir);
  expect(sound.stderr).toBe("");
  expect(sound.stdout).toMatch(/^checked (\d+) revisions: all match their checksums\n$/);
  expect(sound.code).toBe(0);

  flipByte(dataDir);
  const damaged = await checkIntegrity(dataDir);
  expect(damaged.stdout).toBe(`key "k5" at revision ${k5} does not match its checksum\n`);
  expect(damaged.stderr).toMatch(/^Error: 1 of \d+ revisions do not match their checksums\n$/);
  expect(damaged.code).toBe(1);

  const none = await checkIntegrity(path.join(tempDir(), "nothing"));
  expect(none.code).toBe(1);
  expect(none.stderr).toContain("no store at");
}, 60_000);

test(
  "a restarted member refuses the damaged value to reads, HashKV, snapshots and defrag, and raises CORRUPT",
  async () => {
    const { dataDir, k5 } = await stoppedMember(["--experimental-integrity-scrub-interval=0"]);
    flipByte(dataDir);
    const server = await startServer("etcdts", {
      dataDir,
      extraArgs: ["--experimental-integrity-scrub-interval=0"],
    });
    const damage = `corrupt store: key "k5" at revision ${k5} does not match its checksum`;

    expect(await ok(server, ["get", "k6"])).toBe("k6\nvalue 6\n");
    const get = await etcdts(server.endpoint, ["get", "k5"]);
    expect(get.code).toBe(1);
    expect(get.stderr).toBe(`Error: etcdserver: ${damage}\n`);
    expect(get.stdout).toBe("");

    const hash = await etcdts(server.endpoint, ["endpoint", "hashkv"]);
    expect(hash.code).not.toBe(0);
    expect(hash.stderr).toContain(`etcdserver: ${damage}`);

    const file = path.join(tempDir(), "snap.db");
    const save = await etcdts(server.endpoint, ["snapshot", "save", file]);
    expect(save.code).not.toBe(0);
    expect(save.stderr).toContain(`etcdserver: snapshot failed: ${damage}`);
    expect(fs.existsSync(file)).toBe(false);

    const defrag = await etcdts(server.endpoint, ["defrag"]);
    expect(defrag.code).not.toBe(0);
    expect(defrag.stderr).toContain(`etcdserver: defragment failed: ${damage}`);

    await waitFor("the CORRUPT alarm", async () => CORRUPT_ALARM.test(await ok(server, ["alarm", "list"])));
    const put = await etcdts(server.endpoint, ["put", "k", "v"]);
    expect(put.stderr).toBe("Error: etcdserver: corrupt cluster\n");
    const log = server.stderr();
    expect(log).toContain('"msg":"found a stored revision that does not match its checksum"');
    expect(log).toContain(`"key":"k5","revision":"${k5}"`);
    for (const by of ["range", "hashkv", "snapshot", "defrag"]) expect(log).toContain(`"found-by":"${by}"`);
  },
  60_000,
);

test("the scrub finds a damaged value nobody reads and raises CORRUPT", async () => {
  const { dataDir, k5 } = await stoppedMember(["--experimental-integrity-scrub-interval=0"]);
  flipByte(dataDir);
  // The alarm may come before /health would have said healthy: wait for the port instead.
  const server = await startServer("etcdts", {
    dataDir,
    extraArgs: ["--experimental-integrity-scrub-interval=1s"],
    healthCheck: "tcp",
  });
  await waitFor("the CORRUPT alarm", async () => CORRUPT_ALARM.test(await ok(server, ["alarm", "list"])), {
    timeoutMs: 20_000,
  });
  const log = server.stderr();
  expect(log).toContain(`"key":"k5","revision":"${k5}","sub-revision":"0","found-by":"scrub"`);
  expect(log).toContain('"msg":"finished integrity scrub"');
}, 60_000);
