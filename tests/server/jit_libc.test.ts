/**
 * The JIT machinery calls the C library Bun itself is linked against (server/jit/libc.ts):
 * named by /proc/self/maps, glibc's or musl's, with the well-known names as the fallback.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { libcCandidates, mappedLibc, openLibc } from "../../server/jit/libc.ts";
import { cleanup, tempDir } from "../harness.ts";

afterAll(cleanup);

const line = (file: string) => `7f0000000000-7f0000020000 r-xp 00026000 fe:00 339380   ${file}`;

test("the libc this process mapped is found in /proc/self/maps, and it opens", async () => {
  const file = mappedLibc(fs.readFileSync("/proc/self/maps", "latin1"));
  expect(file).not.toBeNull();
  expect(fs.existsSync(file!)).toBe(true);
  const libc = await openLibc([file!]);
  expect(libc).not.toBeInstanceOf(Error);
  // PRIO_PROCESS of this very process, to its own nice: a real call that succeeds.
  const nice = Number(fs.readFileSync("/proc/self/stat", "latin1").split(") ")[1].split(" ")[16]);
  expect((libc as Exclude<typeof libc, Error>).setpriority(0, process.pid, nice)).toBe(0);
});

test("glibc's and musl's names are recognised; look-alikes are not", () => {
  expect(mappedLibc(line("/usr/lib/x86_64-linux-gnu/libc.so.6"))).toBe("/usr/lib/x86_64-linux-gnu/libc.so.6");
  expect(mappedLibc(line("/lib/x86_64-linux-gnu/libc-2.31.so"))).toBe("/lib/x86_64-linux-gnu/libc-2.31.so");
  expect(mappedLibc(line("/lib/ld-musl-aarch64.so.1"))).toBe("/lib/ld-musl-aarch64.so.1");
  const others = ["/usr/lib/libcrypto.so.3", "/usr/lib/libcap.so.2", "[vdso]", "/opt/libc.so.6.bak"];
  expect(mappedLibc(others.map(line).join("\n"))).toBeNull();
});

test("the mapped libc is tried first, then the usual names; an explicit path alone", () => {
  const musl = line("/lib/ld-musl-x86_64.so.1");
  expect(libcCandidates(undefined, musl)[0]).toBe("/lib/ld-musl-x86_64.so.1");
  expect(libcCandidates(undefined, null)).toContain("libc.so.6");
  expect(libcCandidates("/x/libc.so", musl)).toEqual(["/x/libc.so"]);
});

test("a library that is not there, or is not a library, is an error naming what was tried", async () => {
  const notElf = path.join(tempDir("etcdts-libc-"), "libc.so.6");
  fs.writeFileSync(notElf, "not a shared object\n");
  const err = await openLibc(["/nonexistent/libc.so.6", notElf]);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toContain("/nonexistent/libc.so.6");
  expect((err as Error).message).toContain(notElf);
});
