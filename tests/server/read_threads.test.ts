/**
 * The read threads in the compiled binary (store/read_workers.ts): a worker's module is an
 * entry point of its own there, found by another path than from source, and a worker that
 * cannot start only makes reads fall back (with a warning). So: the binary's workers do
 * answer large ranges, and answer what the event loop alone answers.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import { cleanup, startServer, waitFor } from "../harness.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const SERVING = "read threads serving large ranges";

/** 400 keys, then every key read back as one range until `until()` holds; the last answer. */
async function fillAndRead(endpoint: string, until: () => boolean) {
  const client = new Client({ endpoints: [endpoint], callTimeoutMs: 10_000 });
  try {
    const kv = client.service(KV);
    for (let i = 0; i < 400; i += 50) {
      const puts = [];
      for (let j = i; j < i + 50; j++) {
        puts.push(
          kv.put({ key: enc(`rt/${String(j).padStart(3, "0")}`), value: enc(`v${j}`.repeat(1 + j % 5)) }),
        );
      }
      await Promise.all(puts);
    }
    // Rows reach a worker's connection at the next group commit (within 100 ms).
    let last = await kv.range({ key: enc("rt/"), rangeEnd: enc("rt0") });
    await waitFor("a read thread to answer", async () => {
      last = await kv.range({ key: enc("rt/"), rangeEnd: enc("rt0") });
      return until();
    }, { timeoutMs: 4_000 });
    return last;
  } finally {
    client.close();
  }
}

function expectAllKeys(r: Awaited<ReturnType<typeof fillAndRead>>): void {
  expect(r.count).toBe(400n);
  expect(r.kvs.map((kv) => dec(kv.key))).toEqual(
    Array.from({ length: 400 }, (_, i) => `rt/${String(i).padStart(3, "0")}`),
  );
  expect(r.kvs.map((kv) => dec(kv.value))).toEqual(
    Array.from({ length: 400 }, (_, i) => `v${i}`.repeat(1 + i % 5)),
  );
}

describe("read threads in the binary", () => {
  test("answer large ranges once their rows are committed", async () => {
    const server = await startServer("etcdts", { extraArgs: ["--experimental-read-threads", "2"] });
    const got = await fillAndRead(server.endpoint, () => server.stderr().includes(SERVING));
    expectAllKeys(got);
    expect(server.stderr()).not.toContain("read threads failed");
  });

  test("with none, the event loop answers the same", async () => {
    const server = await startServer("etcdts", { extraArgs: ["--experimental-read-threads", "0"] });
    let reads = 0;
    const got = await fillAndRead(server.endpoint, () => ++reads >= 5);
    expectAllKeys(got);
    expect(server.stderr()).not.toContain(SERVING);
  });
});
