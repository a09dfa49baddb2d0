/**
 * make-mirror copies a prefix to another cluster and then follows it: after every later
 * write the destination converges to the source under the renamed prefix.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Subprocess } from "bun";
import {
  cleanEnv,
  cleanup,
  defer,
  etcdctl,
  ETCDTS_BIN,
  type ServerProcess,
  startServer,
  waitFor,
} from "../harness.ts";

setDefaultTimeout(60_000);

async function dump(endpoint: string, prefix: string): Promise<string> {
  const r = await etcdctl(endpoint, ["get", "--prefix", prefix]);
  return r.stdout;
}

describe("make-mirror", () => {
  let source: ServerProcess;
  let dest: ServerProcess;
  beforeAll(async () => {
    [source, dest] = await Promise.all([startServer("etcdts"), startServer("etcd")]);
  });
  afterAll(cleanup);

  test("copies the prefix, then follows puts, deletes and txns under --dest-prefix", async () => {
    for (let i = 0; i < 5; i++) await etcdctl(source.endpoint, ["put", `src/k${i}`, `v${i}`]);
    await etcdctl(source.endpoint, ["put", "other", "not mirrored"]);
    const proc: Subprocess = Bun.spawn(
      [
        ETCDTS_BIN,
        `--endpoints=${source.endpoint}`,
        "make-mirror",
        "--prefix",
        "src/",
        "--dest-prefix",
        "dst/",
        dest.endpoint,
      ],
      { stdout: "ignore", stderr: "pipe", env: cleanEnv() },
    );
    defer(async () => {
      proc.kill("SIGKILL");
      await proc.exited;
    });
    const expected = async () => (await dump(source.endpoint, "src/")).replaceAll("src/", "dst/");
    await waitFor("the initial copy", async () => (await dump(dest.endpoint, "dst/")) === await expected());
    await etcdctl(source.endpoint, ["put", "src/k9", "new"]);
    await etcdctl(source.endpoint, ["del", "src/k1"]);
    await etcdctl(source.endpoint, ["txn"], { stdin: "\n\nput src/t1 a\ndel src/k2\n\n" });
    await etcdctl(source.endpoint, ["put", "src/k0", "changed"]);
    await waitFor(
      "the mirror to follow",
      async () => (await dump(dest.endpoint, "dst/")) === await expected(),
    );
    expect(await dump(dest.endpoint, "dst/")).toContain("dst/k0\nchanged\n");
    expect(await dump(dest.endpoint, "other")).toBe("");
    expect(proc.exitCode).toBe(null);
  });
});
