/**
 * Third-party clients of the JSON gateway, run by their own test suites against etcdts and
 * the real etcd 3.4 alike: OpenStack's etcd3gw (its tests/test_etcd3gw.py) and tooz's
 * etcd3+http coordination driver (tooz's test_coordination.py), both from Debian. They send
 * lease IDs back as JSON numbers, so they fail on a gateway that rounds 64-bit integers.
 * `python_gateway_plugin.py` only points them at the server under test.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanup, CONFORMANCE_TARGETS, run, startServer } from "../harness.ts";

/** Debian's interpreter: the python3-etcd3gw and python3-tooz packages install there. */
const PYTHON = "/usr/bin/python3";
const DIST = "/usr/lib/python3/dist-packages";
const SUITES = {
  etcd3gw: `${DIST}/etcd3gw/tests/test_etcd3gw.py`,
  tooz: `${DIST}/tooz/tests/test_coordination.py`,
};
const installed = fs.existsSync(PYTHON) && Object.values(SUITES).every((f) => fs.existsSync(f));

/** Runs one suite with pytest against `endpoint`; returns pytest's summary line and exit code. */
async function pytest(suite: string, host: string, port: string): Promise<{ code: number; summary: string }> {
  const r = await run([
    PYTHON,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:warnings",
    "-p",
    "no:cacheprovider",
    "-p",
    "python_gateway_plugin",
    suite,
  ], {
    env: {
      PYTHONPATH: import.meta.dir,
      PYTHONDONTWRITEBYTECODE: "1",
      ETCD3GW_HOST: host,
      ETCD3GW_PORT: port,
      TOOZ_TEST_URL: `etcd3+http://${host}:${port}?api_version=v3`,
    },
    timeoutMs: 180_000,
  });
  const out = r.stdout + r.stderr;
  const summary = out.trim().split("\n").at(-1) ?? "";
  if (r.code !== 0) console.error(out.slice(-4000));
  else console.log(`${path.basename(suite)}: ${summary}`);
  return { code: r.code, summary };
}

describe.skipIf(!installed)("JSON gateway clients' own suites", () => {
  afterAll(cleanup);
  for (const kind of CONFORMANCE_TARGETS) {
    for (const [name, suite] of Object.entries(SUITES)) {
      test(`${name}'s tests pass against ${kind}`, async () => {
        const server = await startServer(kind);
        const url = new URL(server.clientUrl);
        const { code, summary } = await pytest(suite, url.hostname, url.port);
        expect(summary).toMatch(/\d+ passed/);
        expect(summary).not.toMatch(/failed|error/);
        expect(code).toBe(0);
        await server.stop();
      }, 200_000);
    }
  }
});
