/**
 * `check datascale` end to end against our server, with our CLI and the real etcdctl: the
 * workload runs, the verdict reads the server's /metrics, and the keys are gone afterwards.
 * (A smaller key count through ETCDTS_CHECK_DATASCALE_KEYS keeps our CLI's run short.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  cleanup,
  ETCDCTL_BIN,
  etcdts,
  ETCDTS_BIN,
  haveRealEtcd,
  run,
  type ServerProcess,
  startServer,
} from "../harness.ts";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer("etcdts");
});
afterAll(cleanup);

const VERDICT = /PASS: Approximate system memory used : -?\d+\.\d\d MB\.\n$/;

test("our check datascale puts, measures, cleans up and passes", async () => {
  const r = await run(
    [ETCDTS_BIN, `--endpoints=${server.endpoint}`, "check", "datascale", "--auto-compact", "--auto-defrag"],
    { env: { ETCDTS_CHECK_DATASCALE_KEYS: "300" }, timeoutMs: 60_000 },
  );
  expect(r.code).toBe(0);
  expect(r.stdout).toStartWith(
    "Start data scale check for work load [300 key-value pairs, 1024 bytes per key-value, 50 concurrent clients].\n",
  );
  expect(r.stdout).toContain(`\nDefragmenting "${server.endpoint}"\nDefragmented "${server.endpoint}"\n`);
  expect(r.stdout).toMatch(VERDICT);
  const left = await etcdts(server.endpoint, ["get", "/etcdctl-check-datascale/", "--prefix", "--keys-only"]);
  expect(left).toEqual({ stdout: "", stderr: "", code: 0 });
}, 60_000);

test("check datascale refuses a prefix that has keys, as etcdctl does", async () => {
  await etcdts(server.endpoint, ["put", "/mine/k", "v"]);
  const r = await etcdts(server.endpoint, ["check", "datascale", "--prefix", "/mine/"]);
  expect(r.code).toBe(3);
  expect(r.stderr).toBe('Error: prefix "/mine/" has keys. Delete with etcdctl del --prefix /mine/ first\n');
});

test.skipIf(!haveRealEtcd())("the real etcdctl's check datascale passes against our server", async () => {
  const r = await run([ETCDCTL_BIN, `--endpoints=${server.endpoint}`, "check", "datascale"], {
    env: { ETCDCTL_API: "3" },
    timeoutMs: 120_000,
  });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(VERDICT);
}, 120_000);
