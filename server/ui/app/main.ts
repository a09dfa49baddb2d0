/**
 * The console page's entry: the header's cluster summary, the views behind the tabs
 * (#keys, #leases, #cluster, #live, #auth) and the login form. Bundled into console.html
 * when the binary is built.
 */
import { call, currentUser, login, logout, whenLoginNeeded } from "./api.ts";
import { formatBytes } from "./bytes.ts";
import { $, hexId, onSubmit, run } from "./dom.ts";
import { initAuth, showAuth } from "./views/auth.ts";
import { initCluster, showCluster } from "./views/cluster.ts";
import { initKeys, openKey, showKeys } from "./views/keys.ts";
import { initLeases, showLeases } from "./views/leases.ts";
import { initLive, pollCharts, startWatch } from "./views/live.ts";

const VIEWS: Record<string, () => Promise<void>> = {
  keys: showKeys,
  leases: showLeases,
  cluster: showCluster,
  live: pollCharts,
  auth: showAuth,
};

function current(): string {
  const name = location.hash.slice(1);
  return name in VIEWS ? name : "keys";
}

/** Shows the view the URL names and loads it. */
function route(): Promise<void> {
  const name = current();
  $("msg").textContent = "";
  for (const section of document.querySelectorAll<HTMLElement>("main > section")) {
    section.hidden = section.id !== `view-${name}`;
  }
  for (const a of document.querySelectorAll<HTMLElement>("#tabs a")) {
    a.classList.toggle("active", a.getAttribute("href") === `#${name}`);
  }
  run(refreshStatus);
  return run(VIEWS[name]);
}

let memberNames = new Map<string, string>();

/** The header: this member, leader, term, raft index, revision, db size, version, alarms. */
async function refreshStatus(): Promise<void> {
  const s = await call<any>("/v3/maintenance/status", {});
  if (memberNames.size === 0) {
    const m = await call<{ members?: { ID: string; name?: string }[] }>("/v3/cluster/member/list", {});
    memberNames = new Map((m.members ?? []).map((x) => [x.ID, x.name || hexId(x.ID)]));
  }
  const self = String(s.header?.member_id ?? "");
  const set = (id: string, text: string) => ($(id).textContent = text);
  set("s-member", memberNames.get(self) ?? hexId(self));
  set("s-leader", s.leader && s.leader !== "0" ? memberNames.get(s.leader) ?? hexId(s.leader) : "none");
  set("s-term", String(s.raftTerm ?? 0));
  set("s-index", String(s.raftIndex ?? 0));
  set("s-rev", String(s.header?.revision ?? 0));
  set("s-db", `${formatBytes(Number(s.dbSize ?? 0))} (${formatBytes(Number(s.dbSizeInUse ?? 0))} in use)`);
  set("s-version", String(s.version ?? ""));
  const a = await call<{ alarms?: { alarm?: string }[] }>("/v3/maintenance/alarm", { action: "GET" }).catch(
    () => ({
      alarms: [],
    }),
  );
  const alarms = (a.alarms ?? []).map((x) => x.alarm ?? "NONE");
  set("s-alarms", alarms.length ? alarms.join(", ") : "none");
  $("s-alarms").className = alarms.length ? "bad" : "";
}

function showUser(): void {
  const user = currentUser();
  $("s-user").textContent = user ?? "";
  $("login-btn").hidden = user !== null;
  $("logout-btn").hidden = user === null;
}

function showLogin(): void {
  if (!$("login").hidden) return;
  $("login").hidden = false;
  $<HTMLInputElement>("login-user").focus();
}

function init(): void {
  whenLoginNeeded(showLogin);
  onSubmit($<HTMLFormElement>("login-form"), async () => {
    try {
      await login($<HTMLInputElement>("login-user").value, $<HTMLInputElement>("login-password").value);
    } catch (e) {
      $("login-error").textContent = (e as Error).message;
      return;
    }
    $("login-error").textContent = "";
    $<HTMLInputElement>("login-password").value = "";
    $("login").hidden = true;
    showUser();
    await refreshStatus();
    await route();
  });
  $("login-cancel").addEventListener("click", () => ($("login").hidden = true));
  $("login-btn").addEventListener("click", showLogin);
  $("logout-btn").addEventListener("click", () => {
    logout();
    showUser();
    run(route);
  });
  initKeys({
    onWatch: (prefix) => {
      location.hash = "#live";
      startWatch(new TextDecoder().decode(Uint8Array.from(prefix, (c) => c.charCodeAt(0))));
    },
  });
  initLeases({
    onOpenKey: (key) => {
      location.hash = "#keys";
      run(() => openKey(key));
    },
  });
  initCluster();
  initLive();
  initAuth();
  globalThis.addEventListener("hashchange", () => void route());
  showUser();
  route();
  setInterval(() => document.hidden || run(refreshStatus), 3000);
  setInterval(() => current() === "live" && !document.hidden && run(pollCharts), 3000);
}

init();
