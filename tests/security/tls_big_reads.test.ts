/**
 * Large responses over TLS arrive intact, end to end through the real binary and CLI: the
 * HTTP/2 layer joins a turn's frames in reused buffers (server/h2/join_buffers.ts) and
 * sends large values from where the store put them (a gathered write), and the TLS socket
 * holds what it cannot send yet by reference. Several clients read at once, so joined and
 * gathered writes of different connections are in flight together. The rule that keeps
 * them apart is tested directly in tests/h2/join_buffers.test.ts and
 * tests/h2/socket_write_done.test.ts.
 */
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { cleanup, ETCDTS_BIN, run, startServer } from "../harness.ts";

afterAll(cleanup);

const KEYS = 96;
/** Under the 128 KiB a single argument may take; 96 of them pass 8 MiB (a gathered response). */
const VALUE_BYTES = 100_000;

function valueOf(i: number): string {
  // Text, as the CLI prints values; different at every offset, so a shifted or stale chunk shows.
  let s = "";
  for (let n = 0; s.length < VALUE_BYTES; n++) s += createHash("sha256").update(`${i}/${n}`).digest("hex");
  return s.slice(0, VALUE_BYTES);
}

test("concurrent large ranges over TLS arrive byte for byte", async () => {
  const s = await startServer("etcdts", { clientScheme: "https", extraArgs: ["--auto-tls"] });
  const cli = (args: string[]) =>
    run([
      ETCDTS_BIN,
      `--endpoints=${s.clientUrl}`,
      "--insecure-transport=false",
      "--insecure-skip-tls-verify",
      "--dial-timeout=5s",
      ...args,
    ], { timeoutMs: 60_000 });
  const values = Array.from({ length: KEYS }, (_, i) => valueOf(i));
  const key = (i: number) => `/big/${String(i).padStart(3, "0")}`;
  for (let i = 0; i < KEYS; i += 8) {
    const puts = await Promise.all(values.slice(i, i + 8).map((v, j) => cli(["put", key(i + j), v])));
    for (const p of puts) expect(p.stdout).toBe("OK\n");
  }
  const all = values.join("\n") + "\n";
  const some = values.slice(0, 12).join("\n") + "\n"; // ~1.2 MB: joined, not gathered
  const reads = [];
  for (let c = 0; c < 4; c++) {
    reads.push(cli(["get", "/big/", "--prefix", "--print-value-only"]));
    reads.push(cli(["get", "/big/000", "/big/012", "--print-value-only"]));
  }
  const results = await Promise.all(reads);
  results.forEach((r, i) => {
    expect(r.code).toBe(0);
    const want = i % 2 === 0 ? all : some;
    expect(r.stdout.length).toBe(want.length);
    expect(r.stdout === want).toBe(true);
  });
}, 120_000);
