/**
 * A file's sha256 as the snapshot checks make it, here and on a worker thread: the same
 * digest as node:crypto's over the same bytes, and an error (never a hang or a crash of
 * the caller) when the file is shorter than asked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileSha256, fileSha256OnWorker } from "../../store/file_sha256.ts";
import { cleanup, tempDir } from "../harness.ts";

afterAll(cleanup);

describe("file sha256", () => {
  const dir = tempDir("file-sha256-");
  const file = path.join(dir, "data");
  // Over the 1 MiB read buffer, not a multiple of it.
  const bytes = Buffer.alloc(3 * (1 << 20) + 12345);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
  fs.writeFileSync(file, bytes);
  const want = (n: number) => new Uint8Array(createHash("sha256").update(bytes.subarray(0, n)).digest());

  test("here and on a worker, over the whole file or its first bytes", async () => {
    for (const n of [0, 1, 1 << 20, bytes.length - 32, bytes.length]) {
      expect(fileSha256(file, n)).toEqual(want(n));
      expect(await fileSha256OnWorker({ path: file, bytes: n })).toEqual(want(n));
    }
  });

  test("a file shorter than asked is an error, here and from the worker", async () => {
    expect(() => fileSha256(file, bytes.length + 1)).toThrow(`ended at ${bytes.length} of`);
    await expect(fileSha256OnWorker({ path: file, bytes: bytes.length + 1 })).rejects.toThrow(
      `ended at ${bytes.length} of`,
    );
    await expect(fileSha256OnWorker({ path: path.join(dir, "missing"), bytes: 1 })).rejects.toThrow("ENOENT");
  });
});
