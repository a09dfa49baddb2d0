/**
 * The Leases view: every lease with its TTL counting down and its keys; grant, revoke and
 * one keep-alive, each confirmed first.
 */
import { call, stream } from "../api.ts";
import { display, fromB64 } from "../bytes.ts";
import { $, button, confirmWrite, duration, h, hexId, onSubmit, say } from "../dom.ts";

/** Leases whose details are read (each is one time-to-live call). */
const MAX_SHOWN = 500;

let openKey: (key: string) => void = () => {};

export function initLeases(opts: { onOpenKey: (key: string) => void }): void {
  openKey = opts.onOpenKey;
  onSubmit($<HTMLFormElement>("lease-form"), grant);
  setInterval(tick, 1000);
}

async function grant(): Promise<void> {
  const ttl = Number($<HTMLInputElement>("lease-ttl").value);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error("a TTL is a whole number of seconds");
  if (!confirmWrite(`Grant a lease of ${ttl} s?`)) return;
  const r = await call<{ ID: string }>("/v3/lease/grant", { TTL: String(ttl) });
  say(`granted lease ${hexId(r.ID)} (${ttl} s)`);
  await showLeases();
}

/** Lists the leases (again). */
export async function showLeases(): Promise<void> {
  const r = await call<{ leases?: { ID: string }[] }>("/v3/lease/leases", {});
  const ids = (r.leases ?? []).map((l) => l.ID);
  const details = await Promise.all(
    ids.slice(0, MAX_SHOWN).map((id) =>
      call<any>("/v3/lease/timetolive", { ID: id, keys: true }).catch((e: Error) => ({
        ID: id,
        error: e.message,
      }))
    ),
  );
  const body = $("lease-rows");
  body.replaceChildren(...details.map(leaseRow));
  $("lease-info").textContent = `${ids.length} lease(s)` +
    (ids.length > MAX_SHOWN ? `, first ${MAX_SHOWN} shown` : "");
}

function leaseRow(d: any): HTMLElement {
  const id = String(d.ID);
  const ttl = Number(d.TTL ?? -1);
  const remaining = h("span.countdown", { "data-expires": Date.now() + ttl * 1000 }, duration(ttl));
  const keys: string[] = (d.keys ?? []).map(fromB64);
  const keyLinks = h("span.keys");
  for (const k of keys.slice(0, 5)) {
    const a = h("a", { href: "#keys" }, display(k));
    a.addEventListener("click", () => openKey(k));
    keyLinks.append(a, " ");
  }
  if (keys.length > 5) keyLinks.append(`+${keys.length - 5} more`);
  if (d.error) keyLinks.append(h("span.bad", null, d.error));
  return h(
    "tr",
    { "data-lease": hexId(id) },
    h("td.mono", null, hexId(id)),
    h("td", null, d.grantedTTL ? `${d.grantedTTL} s` : ""),
    h("td", null, remaining),
    h("td", null, keyLinks),
    h(
      "td",
      null,
      h(
        "div.actions",
        null,
        button("Keep alive", () => keepAlive(id), "plain keepalive"),
        button("Revoke", () => revoke(id, keys.length), "danger revoke"),
      ),
    ),
  );
}

/** One keep-alive: the gateway's keep-alive stream with one request. */
async function keepAlive(id: string): Promise<void> {
  if (!confirmWrite(`Send one keep-alive for lease ${hexId(id)}?`)) return;
  let ttl = -1;
  await stream("/v3/lease/keepalive", JSON.stringify({ ID: id }), (res) => {
    ttl = Number(res.TTL ?? 0);
    return false;
  });
  if (ttl <= 0) throw new Error(`lease ${hexId(id)} not found`);
  say(`lease ${hexId(id)} kept alive: ${ttl} s`);
  await showLeases();
}

async function revoke(id: string, keys: number): Promise<void> {
  if (!confirmWrite(`Revoke lease ${hexId(id)} and delete its ${keys} key(s)?`)) return;
  await call("/v3/lease/revoke", { ID: id });
  say(`revoked lease ${hexId(id)}`);
  await showLeases();
}

/** The countdowns, every second. */
function tick(): void {
  for (const span of document.querySelectorAll<HTMLElement>(".countdown")) {
    const left = Math.round((Number(span.dataset.expires) - Date.now()) / 1000);
    span.textContent = duration(left);
    span.classList.toggle("bad", left < 10);
  }
}
