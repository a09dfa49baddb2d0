/**
 * One version story: the server's /version, Status.version (as `endpoint status` shows it)
 * and `--version` say what etcd 3.4.23 says, and `etcdctl version` says what etcdctl 3.4.23
 * says, with etcdts's own release on a line of its own.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  ETCD_BIN,
  etcdctl,
  etcdts,
  ETCDTS_BIN,
  run,
  startServer,
} from "../harness.ts";
import { ETCDTS_VERSION } from "../../api/version.ts";

afterAll(cleanup);

test("version: etcdctl 3.4.23's two lines, then etcdts's release", async () => {
  const r = await run([ETCDTS_BIN, "version"]);
  expect(r).toEqual({
    stdout: `etcdctl version: 3.4.23\nAPI version: 3.4\netcdts version: ${ETCDTS_VERSION}\n`,
    stderr: "",
    code: 0,
  });
});

test("serve --version: etcd's first line, then etcdts's release", async () => {
  const ours = await run([ETCDTS_BIN, "serve", "--version"]);
  const theirs = await run([ETCD_BIN, "--version"]);
  expect(ours.code).toBe(0);
  expect(ours.stdout.split("\n").slice(0, 2)).toEqual([
    theirs.stdout.split("\n")[0],
    `etcdts Version: ${ETCDTS_VERSION}`,
  ]);
});

describe("the server reports the etcd version it matches", () => {
  for (const kind of CONFORMANCE_TARGETS) {
    test(`${kind}: /version and endpoint status`, async () => {
      const s = await startServer(kind);
      const version = await (await fetch(`${s.clientUrl}/version`)).json();
      const status = await etcdts(s.endpoint, ["endpoint", "status", "-w", "json"]);
      const table = await etcdctl(s.endpoint, ["endpoint", "status", "-w", "table"]);
      const row = table.stdout.split("\n").find((l) => l.includes(s.endpoint)) ?? "";
      expect({
        version,
        status: JSON.parse(status.stdout)[0].Status.version,
        table: row.split("|").map((c) => c.trim())[3],
      }).toEqual({
        version: { etcdserver: "3.4.23", etcdcluster: "3.4.0" },
        status: "3.4.23",
        table: "3.4.23",
      });
    }, 30_000);
  }
});
