/**
 * What the console tests share: a headless Chromium (Debian's `chromium`, driven by
 * playwright-core) with a fresh profile, its confirmation dialogs answered and recorded,
 * gateway calls for setting up data as another client would, and the README's screenshots
 * (`ETCDTS_SCREENSHOTS=1` writes docs/console-*.png).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { cleanup, ROOT, tempDir } from "../harness.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

/** Whether the tests can run; they are skipped (with a warning) without Chromium. */
export const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`skipping the console tests: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

/** A console page and its dialogs: `answer` is what the next confirm() gets. */
export interface ConsolePage {
  readonly browser: BrowserContext;
  readonly page: Page;
  readonly dialogs: { answer: boolean; prompt: string | null; readonly seen: string[] };
}

/** Opens Chromium on `url` (a /ui page). */
export async function openConsole(url: string): Promise<ConsolePage> {
  // A fresh profile per run; playwright wants it as launchPersistentContext's argument.
  const browser = await chromium.launchPersistentContext(tempDir("chromium-"), {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
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
  const page = browser.pages()[0] ?? await browser.newPage();
  const dialogs: ConsolePage["dialogs"] = { answer: true, prompt: null, seen: [] };
  page.on("dialog", (d) => {
    dialogs.seen.push(d.message());
    if (d.type() === "prompt") void (dialogs.prompt === null ? d.dismiss() : d.accept(dialogs.prompt));
    else void (dialogs.answer ? d.accept() : d.dismiss());
  });
  page.on("pageerror", (e) => console.error("console page error:", e.message));
  await page.goto(url);
  return { browser, page, dialogs };
}

/** Base64 of a string's UTF-8 bytes, or of a binary string's bytes with `binary`. */
export function b64(s: string, binary = false): string {
  return Buffer.from(s, binary ? "latin1" : "utf8").toString("base64");
}

/** One gateway call as another client makes it; throws on an error answer. */
export async function gateway(base: string, route: string, body: unknown, token?: string): Promise<any> {
  const headers: Record<string, string> = token ? { Authorization: token } : {};
  const r = await fetch(`${base}/v3/${route}`, { method: "POST", headers, body: JSON.stringify(body) });
  const j = await r.json() as any;
  if (j.error !== undefined) throw new Error(`${route}: ${j.message ?? j.error}`);
  return j;
}

/** Puts keys (text values) through the gateway. */
export async function putKeys(
  base: string,
  kvs: readonly (readonly [string, string])[],
  token?: string,
): Promise<void> {
  for (const [k, v] of kvs) await gateway(base, "kv/put", { key: b64(k), value: b64(v) }, token);
}

/** A key's value as the gateway reads it now (null: no such key). */
export async function valueOf(base: string, key: string, token?: string): Promise<string | null> {
  const r = await gateway(base, "kv/range", { key: b64(key) }, token);
  return r.kvs?.length ? Buffer.from(r.kvs[0].value ?? "", "base64").toString("utf8") : null;
}

/** Saves docs/console-<name>.png when ETCDTS_SCREENSHOTS is set (the README's pictures). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (!process.env.ETCDTS_SCREENSHOTS) return;
  // From the top of the page and of the key pane (a click may have scrolled them).
  await page.evaluate(() => {
    const doc = (globalThis as any).document;
    (globalThis as any).scrollTo(0, 0);
    const pane = doc.getElementById("key-pane");
    if (pane !== null) pane.scrollTop = 0;
  });
  await page.screenshot({ path: path.join(ROOT, "docs", `console-${name}.png`) });
}

/** Waits until the status line says something matching `re` (and returns it). */
export async function message(page: Page, re: RegExp): Promise<string> {
  await page.waitForFunction(
    (src) => new RegExp(src).test((globalThis as any).document.getElementById("msg").textContent),
    re.source,
    { timeout: 10_000 },
  );
  return (await page.textContent("#msg")) ?? "";
}

/** Clicks a tab (keys, leases, cluster, live, auth) and waits for its view. */
export async function showView(page: Page, name: string): Promise<void> {
  await page.click(`#tabs a[href="#${name}"]`);
  await page.waitForFunction((n) => !(globalThis as any).document.getElementById(`view-${n}`).hidden, name);
}

/** Closes the browser (if it opened) and stops the servers: every file's afterAll. */
export async function closeConsole(c: ConsolePage | undefined): Promise<void> {
  await c?.browser.close();
  await cleanup();
}
