/**
 * The test harness itself: a member that cannot start is reported at once, with what it
 * said, rather than after the 20 s health wait; the ports it hands out never repeat; and
 * under CI a missing real etcd fails the conformance suites instead of skipping them.
 */
import { afterAll, expect, test } from "bun:test";
import * as net from "node:net";
import { cleanup, freePort, ROOT, run, startServer } from "../harness.ts";

afterAll(cleanup);

test("freePort hands out distinct ports outside Linux's ephemeral range", async () => {
  const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
  expect(new Set(ports).size).toBe(50);
  for (const p of ports) expect(p < 32768).toBe(true);
});

test("a server that exits while starting fails startServer at once, with its stderr", async () => {
  const port = await freePort();
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
  try {
    const started = Date.now();
    const err = await startServer("etcdts", { clientPort: port }).then(() => null, (e: Error) => e);
    expect(err?.message).toContain("exited");
    expect(err?.message).toContain("address already in use");
    expect(Date.now() - started).toBeLessThan(15_000);
  } finally {
    squatter.close();
  }
});

test("without the real etcd, CI fails loudly; elsewhere the suites run against etcdts alone", async () => {
  const probe = [
    process.execPath,
    "-e",
    `const h = await import(${
      JSON.stringify(`${ROOT}/tests/harness.ts`)
    }); console.log(h.CONFORMANCE_TARGETS.join(","))`,
  ];
  const missing = { ETCD_BIN: "/nonexistent/etcd" };
  const ci = await run(probe, { env: { ...missing, CI: "true" } });
  expect(ci.code).not.toBe(0);
  expect(ci.stderr).toContain("CI needs the real etcd for the conformance suites: /nonexistent/etcd");
  const local = await run(probe, { env: { ...missing, CI: "" } });
  expect(local.code, local.stderr).toBe(0);
  expect(local.stdout).toBe("etcdts\n");
});
