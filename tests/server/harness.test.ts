/**
 * The test harness itself: a member that cannot start is reported at once, with what it
 * said, rather than after the 20 s health wait; and the ports it hands out never repeat.
 */
import { afterAll, expect, test } from "bun:test";
import * as net from "node:net";
import { cleanup, freePort, startServer } from "../harness.ts";

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
