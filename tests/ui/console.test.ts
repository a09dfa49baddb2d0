/**
 * The web console in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): load /ui, browse keys, put a key (confirming the dialog), and see it
 * arrive in a live watch. `ETCDTS_SCREENSHOT=docs/console.png` also saves the picture the
 * README shows.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { cleanup, ROOT, type ServerProcess, startServer, tempDir } from "../harness.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`skipping the console tests: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe.skipIf(!haveChromium)("web console in headless Chromium", () => {
  let server: ServerProcess;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    server = await startServer("etcdts");
    for (
      const [k, v] of [["app/config/mode", "production"], ["app/config/replicas", "3"], ["app/name", "demo"]]
    ) {
      await fetch(`${server.clientUrl}/v3/kv/put`, {
        method: "POST",
        body: JSON.stringify({ key: b64(k), value: b64(v) }),
      });
    }
    await fetch(`${server.clientUrl}/v3/kv/put`, {
      method: "POST",
      body: JSON.stringify({ key: b64("app/name"), value: b64("demo v2") }),
    });
    // A fresh profile per run; playwright wants it as launchPersistentContext's argument.
    browser = await chromium.launchPersistentContext(tempDir("chromium-"), {
      executablePath: CHROMIUM,
      viewport: { width: 1280, height: 760 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = browser.pages()[0] ?? await browser.newPage();
    page.on("dialog", (d) => d.accept());
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await cleanup();
  });

  test("loads with the cluster's status and members", async () => {
    await page.goto(`${server.clientUrl}/ui`);
    // Page-side functions run in the browser; the test's own types have no DOM, hence `any`.
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("s-leader").textContent !== "–"
    );
    expect(await page.textContent("#s-version")).toMatch(/^3\.\d+\.\d+$/);
    await page.waitForSelector("#members tr");
    expect(await page.textContent("#members")).toContain("n1");
  });

  test("browses keys by prefix and shows a key's value and history", async () => {
    await page.fill("#prefix", "app/config/");
    await page.click("#search");
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("#keys li").length === 2);
    expect(await page.$$eval("#keys li", (lis) => lis.map((l) => l.textContent))).toEqual([
      "app/config/mode",
      "app/config/replicas",
    ]);
    await page.fill("#prefix", "app/n");
    await page.click("#search");
    await page.click("#keys li >> text=app/name");
    await page.waitForSelector("#key-view pre");
    expect(await page.textContent("#key-view pre")).toBe("demo v2");
    // The history: a header row and the two versions of app/name.
    await page.waitForFunction(() =>
      (globalThis as any).document.querySelectorAll("#key-view table")[1]?.querySelectorAll("tr").length === 3
    );
    expect(await page.textContent("#key-view")).toContain("demo v2");
  });

  test("a put shows up in the live watch", async () => {
    await page.fill("#watch-prefix", "app/");
    await page.click("#watch-btn");
    await page.waitForSelector("#events li >> text=watching from revision");
    await page.fill("#put-key", "app/feature");
    await page.fill("#put-value", "on");
    await page.click("#put-btn");
    await page.waitForSelector('#events li[data-key="app/feature"]', { timeout: 10_000 });
    expect(await page.textContent('#events li[data-key="app/feature"]')).toContain("PUT app/feature = on");
    // A change from another client arrives too.
    await fetch(`${server.clientUrl}/v3/kv/deleterange`, {
      method: "POST",
      body: JSON.stringify({ key: b64("app/name") }),
    });
    await page.waitForSelector('#events li[data-key="app/name"]', { timeout: 10_000 });
    expect(await page.textContent('#events li[data-key="app/name"]')).toContain("DELETE app/name");
  });

  test("charts fill from /metrics", async () => {
    await page.waitForFunction(
      () =>
        ((globalThis as any).document.querySelector("#chart-rate polyline")?.getAttribute("points") ?? "") !==
          "",
      null,
      {
        timeout: 15_000,
      },
    );
    const shot = process.env.ETCDTS_SCREENSHOT;
    if (shot) {
      await page.fill("#prefix", "app/");
      await page.click("#search");
      await page.click("#keys li >> text=app/config/replicas");
      await page.waitForSelector("#key-view pre");
      // Some traffic and a few more metric samples, for the picture.
      const until = Date.now() + 9000;
      for (let i = 0; Date.now() < until; i++) {
        await fetch(`${server.clientUrl}/v3/kv/put`, {
          method: "POST",
          body: JSON.stringify({ key: b64(`load/${i % 50}`), value: b64(String(i)) }),
        });
        if (i % 20 === 0) await Bun.sleep(50 + (i % 7) * 30);
      }
      await page.screenshot({ path: path.resolve(ROOT, shot) });
    }
  }, 40_000);
});
