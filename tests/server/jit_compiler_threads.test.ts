/**
 * JSC's compiler threads run at nice 19 once the server serves (server/jit/compiler_threads.ts):
 * found by name among the process's threads, each lowered once, and found again when
 * JSC starts a new one.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { JitThreadPriority } from "../../server/jit/compiler_threads.ts";
import { findLibc } from "../../server/jit/libc.ts";
import { cleanup, tempDir } from "../harness.ts";

afterAll(cleanup);

function fakeTasks(threads: Record<number, string>): string {
  const dir = tempDir("etcdts-tasks-");
  for (const [tid, name] of Object.entries(threads)) {
    fs.mkdirSync(path.join(dir, tid));
    fs.writeFileSync(path.join(dir, tid, "comm"), `${name}\n`);
  }
  return dir;
}

test("lowers each JITWorker thread once, and a new one at the next scan", () => {
  const dir = fakeTasks({ 100: "exe", 101: "JITWorker", 102: "HeapHelper", 103: "JITWorker" });
  const lowered: number[] = [];
  const owner = new JitThreadPriority((tid) => (lowered.push(tid), true), dir);
  expect(owner.rescan()).toBe(2);
  expect(lowered.sort()).toEqual([101, 103]);
  expect(owner.rescan()).toBe(0);
  // JSC ended one compiler thread and started another.
  fs.rmSync(path.join(dir, "103"), { recursive: true });
  fs.mkdirSync(path.join(dir, "104"));
  fs.writeFileSync(path.join(dir, "104", "comm"), "JITWorker\n");
  expect(owner.rescan()).toBe(1);
  expect(lowered).toEqual([101, 103, 104]);
});

test("a thread setpriority refused is tried again at the next scan", () => {
  const dir = fakeTasks({ 7: "JITWorker" });
  let allow = false;
  const owner = new JitThreadPriority(() => allow, dir);
  expect(owner.rescan()).toBe(0);
  allow = true;
  expect(owner.rescan()).toBe(1);
});

test("on this Linux, the real thing lowers the test process's own compiler threads", async () => {
  const libc = await findLibc({});
  if (libc instanceof Error) throw libc;
  const owner = new JitThreadPriority((tid, nice) => libc.setpriority(0, tid, nice) === 0);
  const compilerNices = () => {
    const nices: number[] = [];
    for (const tid of fs.readdirSync("/proc/self/task")) {
      const comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, "latin1").trimEnd();
      if (comm !== "JITWorker") continue;
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "latin1");
      // Fields after the ")" that closes the name: the nice value is the 17th.
      nices.push(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    }
    return nices;
  };
  // JSC may start another compiler thread at any moment (this very code can queue a
  // compile): what must hold is that a scan lowers every one it finds.
  let nices = compilerNices();
  for (let tries = 0; tries < 5 && nices.some((n) => n !== 19); tries++) {
    owner.rescan();
    nices = compilerNices();
  }
  expect(nices.length).toBeGreaterThan(0);
  expect(nices.every((n) => n === 19)).toBe(true);
});
