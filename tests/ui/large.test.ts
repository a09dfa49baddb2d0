/**
 * The key tree on a large keyspace in headless Chromium: 100,000 keys laid out like
 * Kubernetes' (registry/<resource>/<namespace>/<name>). A level is listed with a few
 * keys-only ranges whatever the number of keys below it, and every folder's count is
 * right. The times are printed; the bound asserted is loose (a loaded 2-core machine).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { Client } from "../../client/mod.ts";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { type ServerProcess, startServer } from "../harness.ts";
import { closeConsole, type ConsolePage, haveChromium, openConsole } from "./browser.ts";

const KEYS = 100_000;
const RESOURCES = ["configmaps", "deployments", "events", "leases", "nodes", "pods", "secrets", "services"];
const NAMESPACES = 100;

describe.skipIf(!haveChromium)("console: a large keyspace", () => {
  let server: ServerProcess;
  let c: ConsolePage;
  let page: Page;

  beforeAll(async () => {
    server = await startServer("etcdts", { extraArgs: ["--max-txn-ops", "2000"] });
    const client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 60_000 });
    const kv = client.service(KV);
    const enc = new TextEncoder();
    const started = performance.now();
    let next = 0;
    const writer = async () => {
      while (next < KEYS) {
        const from = next;
        next += 2000;
        const success = [];
        for (let i = from; i < Math.min(KEYS, from + 2000); i++) {
          const key = `registry/${RESOURCES[i % 8]}/ns${(i >> 3) % NAMESPACES}/obj-${i}`;
          success.push({
            request: {
              case: "requestPut" as const,
              value: { key: enc.encode(key), value: enc.encode(`{"i":${i}}`) },
            },
          });
        }
        await kv.txn({ success });
      }
    };
    await Promise.all([writer(), writer(), writer(), writer()]);
    console.log(`loaded ${KEYS} keys in ${(performance.now() - started).toFixed(0)} ms`);
    client.close();
    c = await openConsole(`${server.clientUrl}/ui`);
    page = c.page;
  }, 60_000);

  afterAll(() => closeConsole(c));

  /** Expands a folder; the time until all its entries are listed. */
  const expand = async (dir: string, entries: number): Promise<number> => {
    const started = performance.now();
    await page.click(`#tree li.dir[data-dir="${dir}"] > .row-dir`);
    await page.waitForFunction(
      ([d, n]) =>
        (globalThis as any).document.querySelectorAll(`#tree li.dir[data-dir="${d}"] > ul > li:not(.muted)`)
          .length === n,
      [dir, entries] as const,
      { timeout: 30_000 },
    );
    return performance.now() - started;
  };

  test("opens the top level with a few ranges and the right count", async () => {
    await page.waitForSelector('#tree li.dir[data-dir="registry/"]');
    const info = (await page.textContent("#tree-info"))!;
    const ms = Number(await page.getAttribute("#tree-info", "data-ms"));
    console.log(`top level of ${KEYS} keys: ${info}`);
    expect(info).toMatch(/^1 entries, 100000 keys at revision \d+ \(\d+ ms, 2 ranges\)$/);
    expect(ms).toBeLessThan(1000);
  });

  test("expands folders a level at a time, with every folder's count", async () => {
    const registry = await expand("registry/", RESOURCES.length);
    const counts = await page.$$eval(
      '#tree li.dir[data-dir="registry/"] > ul > li > .row-dir',
      (rows) => rows.map((r) => r.textContent),
    );
    expect(counts).toEqual(RESOURCES.map((r) => `▸${r}/${KEYS / 8}`));
    const pods = await expand("registry/pods/", NAMESPACES);
    const nsCounts = await page.$$eval(
      '#tree li.dir[data-dir="registry/pods/"] > ul > li .count',
      (els) => els.map((e) => Number(e.textContent)),
    );
    expect(nsCounts.reduce((a, b) => a + b, 0)).toBe(KEYS / 8);
    // One namespace: 125 keys, listed in full.
    const ns = await expand("registry/pods/ns5/", KEYS / 8 / NAMESPACES);
    console.log(
      `expanded registry/ (8 folders) in ${registry.toFixed(0)} ms, registry/pods/ (100 folders) in ${
        pods.toFixed(0)
      } ms, registry/pods/ns5/ (125 keys) in ${ns.toFixed(0)} ms`,
    );
    await page.click('#tree li.key[data-key="registry/pods/ns5/obj-45"]');
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("value-kind")?.textContent === "JSON"
    );
    expect(await page.inputValue("#value-editor")).toBe('{\n  "i": 45\n}');
  }, 60_000);
});
