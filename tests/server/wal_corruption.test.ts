/**
 * A damaged log on restart, on real processes: bytes flipped in the middle of the log
 * make the member refuse to start (etcd: "walpb: crc mismatch"), never cut acknowledged
 * records; a torn tail is still cut with every acknowledged key kept; and a log that ends
 * before the store's applied index refuses to start instead of skipping new entries.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import { decodeRecords } from "../../wal/record.ts";
import { cleanup, CONFORMANCE_TARGETS, type ServerProcess, startServer } from "../harness.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const VALUE = "v".repeat(500);
const KEYS = 200;

/** A server with KEYS acknowledged keys, stopped cleanly; returns its data dir. */
async function writeAndStop(kind: "etcdts" | "etcd"): Promise<string> {
  const server = await startServer(kind);
  const client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
  const kv = client.service(KV);
  for (let i = 0; i < KEYS; i++) await kv.put({ key: enc(`wal/${i}`), value: enc(VALUE) });
  client.close();
  await server.stop(); // etcd exits 143 on SIGTERM, etcdts 0: both after a clean shutdown
  return server.dataDir;
}

/** The member's one log segment (etcd preallocates its segments; the records come first). */
function segment(dataDir: string): string {
  const dir = path.join(dataDir, "member", "wal");
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".wal"));
  expect(files.length).toBe(1);
  return path.join(dir, files[0]);
}

/** Where an etcdts segment's records end: zeros written ahead of them follow (wal/wal.ts). */
function recordsEnd(file: string): number {
  return decodeRecords(fs.readFileSync(file)).goodBytes;
}

/** Flips 4 bytes of a value in the middle of the records, where a checksum (not a length) breaks. */
function flipMidSegment(file: string): number {
  const bytes = fs.readFileSync(file);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  const v = VALUE.charCodeAt(0);
  let at = Math.floor(end / 2);
  while (!(bytes[at] === v && bytes[at + 1] === v && bytes[at + 2] === v && bytes[at + 3] === v)) at++;
  for (let i = at; i < at + 4; i++) bytes[i] ^= 0xa5;
  fs.writeFileSync(file, bytes);
  return at;
}

async function startError(kind: "etcdts" | "etcd", dataDir: string): Promise<string> {
  let server: ServerProcess | undefined;
  try {
    server = await startServer(kind, { dataDir });
  } catch (e) {
    return (e as Error).message;
  }
  await server.stop();
  throw new Error(`${kind} started on a damaged log`);
}

for (const kind of CONFORMANCE_TARGETS) {
  test(
    `${kind}: 4 bytes flipped mid-segment after a clean stop: refuses to start with a crc mismatch`,
    async () => {
      const dataDir = await writeAndStop(kind);
      const file = segment(dataDir);
      flipMidSegment(file);
      const damaged = fs.readFileSync(file);
      const message = await startError(kind, dataDir);
      expect(message).toMatch(/exited \(1\) while starting/);
      expect(message).toContain("walpb: crc mismatch");
      if (kind === "etcdts") {
        expect(message).toMatch(/is corrupt at offset \d+, after entry index \d+; /);
        expect(message).toContain(file);
        expect(message).toContain("etcdctl member remove");
      }
      // Refusing is all it did: the damaged log is left as it was for the operator.
      expect(fs.readFileSync(file)).toEqual(damaged);
    },
    60_000,
  );
}

test("etcdts: a torn tail after the last record is cut and every acknowledged key kept", async () => {
  const dataDir = await writeAndStop("etcdts");
  // A header promising more bytes than follow, over the zeros after the last record: what
  // a write cut short by a crash leaves.
  const file = segment(dataDir);
  const fd = fs.openSync(file, "r+");
  fs.writeSync(fd, Uint8Array.of(200, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9), 0, 11, recordsEnd(file));
  fs.closeSync(fd);
  const server = await startServer("etcdts", { dataDir });
  const client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
  const kv = client.service(KV);
  const all = await kv.range({ key: enc("wal/"), rangeEnd: enc("wal0") });
  expect(all.kvs.length).toBe(KEYS);
  expect(all.kvs.every((x) => dec(x.value) === VALUE)).toBe(true);
  // And the member goes on accepting writes.
  const next = await kv.put({ key: enc("after"), value: enc("x") });
  expect(next.header!.revision).toBe(BigInt(KEYS + 2));
  client.close();
  await server.stop();
  expect(server.stderr()).toContain("cut 11 bytes of a torn log tail");
}, 60_000);

test(
  "etcdts: a log that lost entries the store applied refuses to start instead of hanging writes",
  async () => {
    const dataDir = await writeAndStop("etcdts");
    const file = segment(dataDir);
    fs.truncateSync(file, Math.floor(recordsEnd(file) / 2));
    const message = await startError("etcdts", dataDir);
    expect(message).toMatch(/exited \(1\) while starting/);
    expect(message).toMatch(
      /the store's applied index \d+ is beyond the last log index \d+ and no snapshot covers it/,
    );
  },
  60_000,
);
