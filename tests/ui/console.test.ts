/**
 * The console's Keys view in a real headless Chromium against a real server: the key tree
 * (lazy folders with counts, search, separator), values (JSON and YAML checked while
 * edited, binary as hex, Kubernetes protobuf labelled), writes that ask first, a key's
 * history with a diff, and the tree at a past revision down to the compaction boundary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { type ServerProcess, startServer, waitFor } from "../harness.ts";
import {
  b64,
  closeConsole,
  type ConsolePage,
  gateway,
  haveChromium,
  message,
  openConsole,
  putKeys,
  screenshot,
  showView,
  valueOf,
} from "./browser.ts";

describe.skipIf(!haveChromium)("console: keys", () => {
  let server: ServerProcess;
  let c: ConsolePage;
  let page: Page;
  let url: string;

  beforeAll(async () => {
    server = await startServer("etcdts");
    url = server.clientUrl;
    await putKeys(url, [
      ["app/config/mode", "production"],
      ["app/config/replicas", "3"],
      ["app/name", "demo"],
      ["app/name", "demo v2"],
      ["app/settings.json", '{"feature":{"enabled":true,"limit":10},"owners":["ops","dev"]}'],
      ["app/settings.json", '{"feature":{"enabled":true,"limit":20},"owners":["ops","dev","qa"]}'],
      [
        "app/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
      ],
      ["/registry/pods/default/web-1", '{"kind":"Pod"}'],
      ["/registry/pods/default/web-2", '{"kind":"Pod"}'],
      ["/registry/services/default/api", '{"kind":"Service"}'],
      ["svc::billing::url", "http://billing"],
      ["svc::billing::port", "8080"],
      ["svc::search::url", "http://search"],
    ]);
    // Binary, and Kubernetes' protobuf envelope: k8s\0 + Unknown{typeMeta{v1, Pod}, raw}.
    const typeMeta = "\x0a\x02v1\x12\x03Pod";
    const unknown = "\x0a" + String.fromCharCode(typeMeta.length) + typeMeta + "\x12\x02\x08\x01";
    await gateway(url, "kv/put", {
      key: b64("/registry/pods/default/web-3"),
      value: b64("k8s\0" + unknown, true),
    });
    await gateway(url, "kv/put", { key: b64("bin/blob"), value: b64("\x00\x01\x02\xffhello", true) });
    c = await openConsole(`${url}/ui`);
    page = c.page;
  }, 60_000);

  afterAll(() => closeConsole(c));

  const dir = (p: string) => `#tree li.dir[data-dir="${p}"]`;
  const key = (k: string) => `#tree li.key[data-key="${k}"]`;
  const names = (sel: string) => page.$$eval(sel, (els) => els.map((e) => e.textContent));

  test("opens on the tree's top level with a count per folder", async () => {
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("s-leader").textContent !== "–"
    );
    expect(await page.textContent("#s-version")).toMatch(/^3\.\d+\.\d+$/);
    await page.waitForSelector(dir("app/"));
    expect(await names("#tree > li > .row-dir, #tree > li.key")).toEqual([
      "▸/4",
      "▸app/5",
      "▸bin/1",
      "svc::billing::port",
      "svc::billing::url",
      "svc::search::url",
    ]);
    expect(await page.textContent("#tree-info")).toContain("6 entries, 13 keys");
  });

  test("expands folders one level at a time", async () => {
    await page.click(`${dir("app/")} > .row-dir`);
    await page.waitForSelector(dir("app/config/"));
    expect(await names(`${dir("app/")} > ul > li > .row-dir, ${dir("app/")} > ul > li.key`)).toEqual([
      "▸config/2",
      "deploy.yaml",
      "name",
      "settings.json",
    ]);
    // The folder's pane: its count, and a way to watch it.
    expect(await page.textContent("#key-pane")).toContain("5 key(s) under this prefix");
    await page.click(`${dir("/")} > .row-dir`);
    await page.click(`${dir("/registry/")} > .row-dir`);
    await page.waitForSelector(dir("/registry/pods/"));
    expect(await page.textContent(`${dir("/registry/pods/")} .count`)).toBe("3");
  });

  test("searches by prefix, with another separator", async () => {
    await page.fill("#prefix", "svc::b");
    await page.fill("#sep", "::");
    await page.click("#search");
    await page.waitForSelector(dir("svc::billing::"));
    expect(await names("#tree > li > .row-dir, #tree > li.key")).toEqual(["▸billing::2"]);
    await page.fill("#prefix", "");
    await page.click("#search");
    await page.waitForSelector(dir("svc::"));
    expect(await page.textContent(`${dir("svc::")} .count`)).toBe("3");
    await page.fill("#sep", "/");
    await page.click("#search");
    await page.waitForSelector(dir("app/"));
  });

  test("JSON is shown indented, checked while edited, and saved compact after a confirmation", async () => {
    await page.fill("#prefix", "app/");
    await page.click("#search");
    await page.click(key("app/settings.json"));
    await page.waitForSelector("#value-editor");
    expect(await page.textContent("#value-kind")).toBe("JSON");
    expect(await page.inputValue("#value-editor")).toContain('{\n  "feature": {\n    "enabled": true,');
    await page.fill("#value-editor", '{\n  "feature": {"enabled": false,}\n}');
    await page.waitForSelector("#value-check.bad");
    expect(await page.textContent("#value-check")).toMatch(/^JSON: /);
    expect(await page.isDisabled("#save-btn")).toBe(true);
    await page.fill(
      "#value-editor",
      '{\n  "feature": {"enabled": false, "limit": 30},\n  "owners": ["ops"]\n}',
    );
    expect(await page.textContent("#value-check")).toBe("valid JSON");
    c.dialogs.seen.length = 0;
    await page.click("#save-btn");
    await message(page, /^put app\/settings.json at revision/);
    expect(c.dialogs.seen).toEqual([expect.stringMatching(/^Put app\/settings.json \(\d+ bytes\)\?$/)]);
    expect(await valueOf(url, "app/settings.json")).toBe(
      '{"feature":{"enabled":false,"limit":30},"owners":["ops"]}',
    );
  });

  test("a key's history, with a diff between any two revisions", async () => {
    // The save above re-renders the history: wait for its rows, not for the table alone
    // (under the full suite's load the table was found empty once, mid-render).
    await page.waitForFunction(() =>
      (globalThis as any).document.querySelectorAll("#history-table tbody tr").length === 3
    );
    // Default: the previous version against the latest.
    expect(await page.textContent("#diff")).toContain('-     "limit": 20');
    expect(await page.textContent("#diff")).toContain('+     "limit": 30');
    // The first and second versions instead.
    const [oldest, middle] = await page.$$eval(
      "#history-table tbody tr",
      (rows) => rows.map((r) => r.getAttribute("data-rev")).reverse(),
    );
    await page.check(`#history-table tr[data-rev="${oldest}"] input[name=diff-a]`);
    await page.check(`#history-table tr[data-rev="${middle}"] input[name=diff-b]`);
    expect(await page.textContent("#diff")).toContain(`revision ${oldest} → ${middle}`);
    expect(await page.textContent("#diff")).toContain('+     "qa"');
    await screenshot(page, "keys");
  });

  test("YAML is checked with the line that is wrong", async () => {
    await page.click(key("app/deploy.yaml"));
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("value-kind")?.textContent === "YAML"
    );
    expect(await page.inputValue("#value-editor")).toContain("kind: Deployment");
    await page.fill("#value-editor", "apiVersion: apps/v1\nkind: Deployment\n  replicas: 3\n");
    expect(await page.textContent("#value-check")).toBe("YAML: line 3: mapping values are not allowed here");
    expect(await page.isDisabled("#save-btn")).toBe(true);
    // Reading it as text instead accepts anything.
    await page.selectOption("#value-format", "text");
    await page.fill("#value-editor", "apiVersion: apps/v1\nkind: Deployment\n  replicas: 3\n");
    expect(await page.isDisabled("#save-btn")).toBe(false);
  });

  test("binary values as hex, Kubernetes protobuf labelled", async () => {
    await page.fill("#prefix", "");
    await page.click("#search");
    await page.click(`${dir("bin/")} > .row-dir`);
    await page.click(key("bin/blob"));
    await page.waitForSelector("#value-hex");
    expect(await page.textContent("#value-kind")).toBe("binary");
    expect(await page.textContent("#value-hex")).toContain("00 01 02 ff 68 65 6c 6c  6f");
    expect(await page.$("#save-btn")).toBeNull();
    await page.fill("#prefix", "/registry/pods/default/");
    await page.click("#search");
    await page.click(key("/registry/pods/default/web-3"));
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("value-kind")?.textContent?.startsWith("Kubernetes")
    );
    expect(await page.textContent("#value-kind")).toBe("Kubernetes protobuf: v1 Pod");
    expect(await page.textContent("#value-hex")).toContain("|k8s.");
  });

  test("a new key, and a delete that asks first (no keeps the key)", async () => {
    await page.fill("#prefix", "");
    await page.click("#new-key");
    await page.fill("#new-key-name", "app/feature");
    await page.fill("#value-editor", "on");
    await page.click("#save-btn");
    await message(page, /^put app\/feature at revision/);
    expect(await valueOf(url, "app/feature")).toBe("on");
    await page.waitForSelector("#delete-btn");
    c.dialogs.answer = false;
    await page.click("#delete-btn");
    await waitFor("the delete to be asked", () => c.dialogs.seen.at(-1) === "Delete key app/feature?");
    expect(await valueOf(url, "app/feature")).toBe("on");
    c.dialogs.answer = true;
    await page.click("#delete-btn");
    await message(page, /^deleted 1 key/);
    expect(await valueOf(url, "app/feature")).toBeNull();
  });

  test("deletes a folder after saying how many keys go", async () => {
    await page.click(`${dir("/")} > .row-dir`);
    await page.click(`${dir("/registry/")} > .row-dir`);
    await page.click(`${dir("/registry/services/")} > .row-dir`);
    await page.click("#key-pane button.danger");
    await message(page, /^deleted 1 key\(s\) under \/registry\/services\//);
    expect(c.dialogs.seen.at(-1)).toBe("Delete all 1 key(s) under /registry/services/?");
    expect(await valueOf(url, "/registry/services/default/api")).toBeNull();
  });

  test("the tree at a past revision, down to the compaction boundary", async () => {
    const before = Number((await gateway(url, "kv/range", { key: b64("app/name") })).header.revision);
    await putKeys(url, [["app/later", "x"], ["app/name", "demo v3"]]);
    const cut = before - 3;
    await gateway(url, "kv/compaction", { revision: String(cut) });
    await page.fill("#prefix", "app/");
    await page.click("#search");
    await showView(page, "leases");
    await showView(page, "keys");
    await page.waitForFunction(
      (n) =>
        (globalThis as any).document.getElementById("compacted").textContent ===
          `history compacted at revision ${n}`,
      cut,
    );
    // Below the boundary: refused, with where history starts.
    await page.fill("#at-rev", String(cut - 1));
    await page.click("#rev-view");
    expect(await message(page, /compacted/)).toBe(
      `revision ${cut - 1} is compacted: history starts at ${cut}`,
    );
    await page.fill("#at-rev", String(before));
    await page.click("#rev-view");
    await page.waitForFunction(
      (n) =>
        (globalThis as any).document.getElementById("tree-info").textContent.includes(`at revision ${n}`),
      before,
    );
    expect(await page.textContent("#tt-banner")).toBe(`Viewing revision ${before}: read-only.`);
    expect(await page.$(key("app/later"))).toBeNull();
    await page.click(key("app/name"));
    await page.waitForSelector("#restore-btn");
    expect(await page.inputValue("#value-editor")).toBe("demo v2");
    expect(await page.$("#save-btn")).toBeNull();
    // The history shows only what the compaction kept.
    await page.waitForSelector("#history-table");
    expect(await page.textContent("#history")).toContain(`Revisions before ${cut} are compacted.`);
    await page.click("#restore-btn");
    await message(page, /^restored app\/name at revision/);
    expect(await valueOf(url, "app/name")).toBe("demo v2");
    await page.click("#rev-latest");
    await page.waitForSelector(key("app/later"));
    expect(await page.isHidden("#tt-banner")).toBe(true);
  }, 30_000);
});
