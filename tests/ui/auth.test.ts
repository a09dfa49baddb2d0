/**
 * The console with auth on, in headless Chromium: the login form, users and roles managed
 * by root, and a user without root refused by the server's own checks (the console has no
 * guard of its own: it calls the gateway like any client).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { type ServerProcess, startServer } from "../harness.ts";
import {
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

describe.skipIf(!haveChromium)("console: auth, users and roles", () => {
  let server: ServerProcess;
  let c: ConsolePage;
  let page: Page;
  let url: string;

  beforeAll(async () => {
    server = await startServer("etcdts");
    url = server.clientUrl;
    await putKeys(url, [["app/a", "1"], ["app/b", "2"], ["secret/x", "s"]]);
    await gateway(url, "auth/user/add", { name: "root", password: "rootpw" });
    await gateway(url, "auth/role/add", { name: "root" });
    await gateway(url, "auth/user/grant", { user: "root", role: "root" });
    await gateway(url, "auth/enable", {});
    c = await openConsole(`${url}/ui`);
    page = c.page;
  }, 60_000);

  afterAll(() => closeConsole(c));

  const tab = (name: string) => showView(page, name);
  const token = async (name: string, password: string): Promise<string> =>
    (await gateway(url, "auth/authenticate", { name, password })).token;
  const login = async (user: string, password: string) => {
    await page.fill("#login-user", user);
    await page.fill("#login-password", password);
    await page.click("#login-submit");
  };

  test("asks to log in, refuses a wrong password, then works", async () => {
    await page.waitForSelector("#login", { state: "visible" });
    await login("root", "wrong");
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("login-error").textContent !== ""
    );
    expect(await page.textContent("#login-error")).toContain("authentication failed");
    await login("root", "rootpw");
    await page.waitForSelector("#login", { state: "hidden" });
    expect(await page.textContent("#s-user")).toBe("root");
    await page.waitForSelector('#tree li.dir[data-dir="app/"]');
    expect(await page.textContent('#tree li.dir[data-dir="app/"] .count')).toBe("2");
  });

  test("root adds a role with a permission, a user with that role, and revokes", async () => {
    await tab("auth");
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("auth-state").textContent ===
        "Auth is on: logged in as root."
    );
    await page.fill("#role-name", "app-rw");
    await page.click("#role-add");
    await page.waitForSelector('#role-rows tr[data-role="app-rw"]');
    expect(c.dialogs.seen.at(-1)).toBe("Add role app-rw?");
    await page.selectOption("#perm-role", "app-rw");
    await page.fill("#perm-key", "app/");
    await page.click("#perm-grant");
    await page.waitForSelector('#role-rows tr[data-role="app-rw"] .chip >> text=READWRITE app/* (prefix)');
    expect(c.dialogs.seen.at(-1)).toBe("Grant READWRITE on app/* (prefix) to role app-rw?");
    // A second permission, on one key, read only: then revoked with its ×.
    await page.selectOption("#perm-type", "READ");
    await page.uncheck("#perm-prefix");
    await page.fill("#perm-key", "secret/x");
    await page.click("#perm-grant");
    const readChip = '#role-rows tr[data-role="app-rw"] .chip:has-text("READ secret/x")';
    await page.waitForSelector(readChip);
    await page.click(`${readChip} button.x`);
    await page.waitForSelector(readChip, { state: "detached" });
    expect(c.dialogs.seen.at(-1)).toBe("Revoke READ on secret/x from role app-rw?");
    const role = await gateway(url, "auth/role/get", { role: "app-rw" }, await token("root", "rootpw"));
    expect(role.perm).toHaveLength(1);

    await page.fill("#user-name", "alice");
    await page.fill("#user-password", "alicepw");
    await page.click("#user-add");
    const row = '#user-rows tr[data-user="alice"]';
    await page.waitForSelector(row);
    await page.selectOption(`${row} select.grant-role`, "app-rw");
    await page.click(`${row} button:text("Grant role")`);
    await page.waitForSelector(`${row} .chip >> text=app-rw`);
    expect(c.dialogs.seen.at(-1)).toBe("Grant role app-rw to alice?");
    await screenshot(page, "users");
  });

  test("a user without root is refused by the server, and sees what the role allows", async () => {
    await page.click("#logout-btn");
    await page.waitForSelector("#login", { state: "visible" });
    await login("alice", "alicepw");
    await page.waitForSelector("#login", { state: "hidden" });
    expect(await page.textContent("#s-user")).toBe("alice");
    // Users & roles: the gateway says no.
    await page.waitForFunction(() =>
      (globalThis as any).document.getElementById("auth-state").textContent ===
        "Auth is on: etcdserver: permission denied"
    );
    await page.fill("#user-name", "mallory");
    await page.click("#user-add");
    expect(await message(page, /denied/)).toBe("etcdserver: permission denied");
    // Keys: not the whole keyspace, but app/.
    await tab("keys");
    await page.waitForSelector("#tree li.bad >> text=etcdserver: permission denied");
    await page.fill("#prefix", "app/");
    await page.click("#search");
    await page.waitForSelector('#tree li.key[data-key="app/b"]');
    await page.click('#tree li.key[data-key="app/b"]');
    await page.waitForSelector("#value-editor");
    await page.fill("#value-editor", "3");
    await page.click("#save-btn");
    await message(page, /^put app\/b at revision/);
    await page.fill("#prefix", "secret/");
    await page.click("#search");
    await page.waitForSelector("#tree li.bad >> text=etcdserver: permission denied");
  });

  test("root turns auth off from the console", async () => {
    await page.click("#logout-btn");
    await page.waitForSelector("#login", { state: "visible" });
    await login("root", "rootpw");
    await page.waitForSelector("#login", { state: "hidden" });
    await tab("auth");
    await page.waitForSelector('#user-rows tr[data-user="alice"]');
    await page.click("#auth-disable");
    await message(page, /^Disable auth: done$/);
    expect((await gateway(url, "auth/user/list", {})).users).toEqual(["alice", "root"]);
  });
});
