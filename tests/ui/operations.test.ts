/**
 * The console's operator views in headless Chromium against a real three-member cluster:
 * Cluster (every member's own status, defragment through another member's gateway, alarms
 * and disarm, compaction, snapshot download), Leases (grant, countdown, attached keys,
 * keep-alive, revoke) and Live (watch with pause and resume; charts with a past).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import type { Page } from "playwright-core";
import { type ClusterProcess, startCluster, waitFor } from "../harness.ts";
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
} from "./browser.ts";

describe.skipIf(!haveChromium)("console: cluster, leases, live", () => {
  let cluster: ClusterProcess;
  let c: ConsolePage;
  let page: Page;
  let url: string;

  beforeAll(async () => {
    cluster = await startCluster(3);
    url = cluster.members[0].clientUrl;
    await waitFor(
      "a leader",
      async () => Number((await gateway(url, "maintenance/status", {})).leader ?? 0) > 0,
    );
    await putKeys(url, [["app/config", "v1"], ["app/config", "v2"], ["app/name", "demo"]]);
    c = await openConsole(`${url}/ui#cluster`);
    page = c.page;
  }, 60_000);

  afterAll(() => closeConsole(c));

  const tab = (name: string) => showView(page, name);

  test("lists every member with its own status and marks the leader", async () => {
    await page.waitForFunction(() =>
      (globalThis as any).document.querySelectorAll("#member-rows tr").length === 3
    );
    // Each member answered for itself (its version), this page's member is marked.
    await page.waitForFunction(() =>
      [...(globalThis as any).document.querySelectorAll("#member-rows tr")].every((tr: any) =>
        /^3\.\d+\.\d+$/.test(tr.children[3].textContent)
      )
    );
    expect(await page.textContent('#member-rows tr[data-member="m0"]')).toContain("m0 (this)");
    const roles = await page.$$eval("#member-rows tr", (rows) => rows.map((r) => r.children[2].textContent));
    expect(roles.filter((r) => r === "★ leader")).toHaveLength(1);
    expect(roles.filter((r) => r === "follower")).toHaveLength(2);
    expect(await page.textContent('#member-rows tr[data-member="m1"]')).toMatch(/\d+(\.\d)? KiB \/ /);
    await screenshot(page, "cluster");
  });

  test("defragments another member through its own gateway, after asking", async () => {
    await page.click('#member-rows tr[data-member="m2"] button.defrag');
    expect(await message(page, /defragmented/)).toBe("defragmented m2");
    expect(c.dialogs.seen.at(-1)).toMatch(/^Defragment member m2\?/);
  });

  test("shows an alarm and disarms it", async () => {
    const { members } = await gateway(url, "cluster/member/list", {});
    const id = members.find((m: any) => m.name === "m1").ID;
    await gateway(url, "maintenance/alarm", { action: "ACTIVATE", memberID: id, alarm: "NOSPACE" });
    await tab("leases");
    await tab("cluster");
    await page.waitForSelector('#alarm-list li[data-alarm="NOSPACE"]');
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("s-alarms").textContent === "NOSPACE"
    );
    await page.click('#alarm-list li[data-alarm="NOSPACE"] button.disarm');
    expect(await message(page, /disarmed/)).toBe("disarmed NOSPACE");
    expect(c.dialogs.seen.at(-1)).toBe(`Disarm NOSPACE on member ${BigInt(id).toString(16)}?`);
    expect((await gateway(url, "maintenance/alarm", { action: "GET" })).alarms).toBeUndefined();
    await page.waitForSelector("#alarm-list li.muted");
  });

  test("downloads a snapshot", async () => {
    const download = page.waitForEvent("download");
    await page.click("#snapshot-btn");
    const file = await (await download).path();
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(4096);
    expect(await message(page, /^snapshot downloaded/)).toMatch(/^snapshot downloaded: \d+(\.\d)? KiB$/);
  });

  test("compacts after asking", async () => {
    const rev = Number((await gateway(url, "kv/range", { key: b64("app/config") })).header.revision);
    await page.fill("#compact-rev", String(rev));
    await page.click("#compact-btn");
    expect(await message(page, /^compacted/)).toBe(`compacted at revision ${rev}`);
    expect(c.dialogs.seen.at(-1)).toBe(
      `Compact history before revision ${rev}? Older revisions are gone for good.`,
    );
    await expect(gateway(url, "kv/range", { key: b64("app/config"), revision: "2" })).rejects.toThrow(
      /compacted/,
    );
  });

  test("grants a lease, counts it down, shows its keys, keeps it alive and revokes it", async () => {
    await tab("leases");
    await page.fill("#lease-ttl", "120");
    await page.click("#lease-grant");
    const granted = await message(page, /^granted lease/);
    const hex = /lease ([0-9a-f]+)/.exec(granted)![1];
    expect(c.dialogs.seen.at(-1)).toBe("Grant a lease of 120 s?");
    await gateway(url, "kv/put", {
      key: b64("app/lock"),
      value: b64("me"),
      lease: BigInt("0x" + hex).toString(),
    });
    await tab("keys");
    await tab("leases");
    const row = `#lease-rows tr[data-lease="${hex}"]`;
    await page.waitForSelector(`${row} a:text("app/lock")`);
    expect(await page.textContent(`${row} td:nth-child(2)`)).toBe("120 s");
    const first = await page.textContent(`${row} .countdown`);
    expect(first).toMatch(/^(2m 0s|1m \d+s)$/);
    await page.waitForFunction(
      ([sel, was]) => (globalThis as any).document.querySelector(sel).textContent !== was,
      [`${row} .countdown`, first],
    );
    await screenshot(page, "leases");
    await page.click(`${row} button.keepalive`);
    expect(await message(page, /kept alive/)).toBe(`lease ${hex} kept alive: 120 s`);
    await page.click(`${row} button.revoke`);
    expect(await message(page, /^revoked/)).toBe(`revoked lease ${hex}`);
    expect(c.dialogs.seen.at(-1)).toBe(`Revoke lease ${hex} and delete its 1 key(s)?`);
    await page.waitForSelector(row, { state: "detached" });
    expect((await gateway(url, "kv/range", { key: b64("app/lock") })).kvs).toBeUndefined();
  });

  test("a lease's key opens in the Keys view", async () => {
    const { ID } = await gateway(url, "lease/grant", { TTL: "300" });
    await gateway(url, "kv/put", { key: b64("app/session"), value: b64("s1"), lease: ID });
    await tab("keys");
    await tab("leases");
    await page.click(`#lease-rows tr[data-lease="${BigInt(ID).toString(16)}"] a`);
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("key-title")?.textContent === "app/session"
    );
    expect(await page.textContent("#key-meta")).toContain(BigInt(ID).toString(16));
  });

  test("charts have a past as soon as the Live view opens", async () => {
    // The member samples every 3 s from its start; the page draws what it kept.
    await waitFor(
      "three samples",
      async () => (await (await fetch(`${url}/ui/metrics`)).json() as any).samples.length >= 3,
    );
    await tab("live");
    await page.waitForSelector("#chart-rate[data-points]");
    expect(Number(await page.getAttribute("#chart-rate", "data-points"))).toBeGreaterThanOrEqual(2);
    expect(Number(await page.getAttribute("#chart-keys", "data-points"))).toBeGreaterThanOrEqual(3);
    expect(await page.$eval("#chart-rate polyline", (p) => p.getAttribute("points"))).toMatch(
      /^[\d.]+,[\d.]+ /,
    );
    expect(await page.textContent("#chart-keys .chart-head")).toMatch(/^keys\d+$/);
  }, 30_000);

  test("watches a prefix; a paused watch holds events until resumed", async () => {
    await page.fill("#watch-prefix", "app/");
    await page.click("#watch-btn");
    await page.waitForSelector("#events li >> text=watching app/ from revision");
    // Writes through another member arrive too.
    const other = cluster.members[1].clientUrl;
    await putKeys(other, [["app/feature", "on"], ["other/key", "x"]]);
    await page.waitForSelector('#events li[data-key="app/feature"]');
    expect(await page.textContent('#events li[data-key="app/feature"]')).toMatch(
      /PUT app\/feature = on {2}@\d+$/,
    );
    await page.click("#pause-btn");
    expect(await page.textContent("#pause-btn")).toBe("Resume");
    await gateway(other, "kv/deleterange", { key: b64("app/feature") });
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("watch-stats").textContent ===
        "2 event(s), 1 held while paused"
    );
    expect(await page.$$('#events li[data-key="app/feature"]')).toHaveLength(1);
    await page.click("#pause-btn");
    await page.waitForSelector('#events li.bad[data-key="app/feature"]');
    expect(await page.textContent("#events li:first-child")).toMatch(/DELETE app\/feature {2}@\d+$/);
    expect(await page.$('#events li[data-key="other/key"]')).toBeNull();
    for (let i = 0; i < 20; i++) await putKeys(url, [[`app/load/${i % 5}`, String(i)]]);
    await page.waitForSelector('#events li[data-key="app/load/4"]');
    await screenshot(page, "live");
    await page.click("#unwatch-btn");
    expect(await page.isDisabled("#pause-btn")).toBe(true);
  }, 30_000);
});
