/**
 * One binary, two faces: through a link named `etcd` it is the server, through one named
 * `etcdctl` the client.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanup, ETCDTS_BIN, run, tempDir } from "../harness.ts";

afterAll(cleanup);

function links(): { etcd: string; etcdctl: string } {
  const dir = tempDir("etcdts-links-");
  const etcd = path.join(dir, "etcd");
  const etcdctl = path.join(dir, "etcdctl");
  fs.symlinkSync(ETCDTS_BIN, etcd);
  fs.symlinkSync(ETCDTS_BIN, etcdctl);
  return { etcd, etcdctl };
}

test("a link named etcd is the server and one named etcdctl the client, as etcd's own binaries", async () => {
  const { etcd, etcdctl } = links();
  const server = await run([etcd, "--version"]);
  expect(server.code).toBe(0);
  expect(server.stdout).toStartWith("etcd Version: ");
  const client = await run([etcdctl, "version"]);
  expect(client.code).toBe(0);
  expect(client.stdout).toStartWith("etcdctl version: ");
});
