/**
 * A worker asked one thing answers once, as a value: its reply, or `failed(message)` when
 * it throws before replying or exits without a word. The caller is never left waiting.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { askWorker } from "../../lib/worker_reply.ts";
import { cleanup, tempDir } from "../harness.ts";

afterAll(cleanup);

type Reply = { ok: number } | { failed: string };

describe("a worker asked one thing", () => {
  const dir = tempDir("worker-reply-");
  const worker = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, body);
    return file;
  };
  const ask = (entry: string, task: unknown) => {
    const w = askWorker<Reply>(entry, task, (m) => ({ failed: m }));
    return w.reply.finally(() => w.worker.terminate());
  };

  test("its reply", async () => {
    const entry = worker("double.ts", "self.onmessage = (e) => self.postMessage({ ok: e.data * 2 });");
    expect(await ask(entry, 21)).toEqual({ ok: 42 });
  });

  test("an error thrown before it replies", async () => {
    const entry = worker("throws.ts", 'self.onmessage = () => { throw new Error("no such thing"); };');
    expect(await ask(entry, 0)).toEqual({ failed: expect.stringContaining("no such thing") });
  });

  test("an exit without a reply", async () => {
    const entry = worker("exits.ts", "self.onmessage = () => process.exit(0);");
    expect(await ask(entry, 0)).toEqual({ failed: "exited without a reply" });
  });
});
