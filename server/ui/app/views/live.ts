/**
 * The Live view: a watch on a prefix (paused events are held, not lost) and charts of the
 * member's recent history (kept by the server, so they have a past when the page opens).
 */
import { stream } from "../api.ts";
import { display, formatBytes, fromB64, prefixEnd, toB64, utf8 } from "../bytes.ts";
import { $, h, onSubmit, say } from "../dom.ts";

/** Events kept on the page. */
const MAX_EVENTS = 500;

let watching: AbortController | null = null;
let paused = false;
let held: HTMLElement[] = [];
let seen = 0;

export function initLive(): void {
  onSubmit($<HTMLFormElement>("watch-form"), () => startWatch($<HTMLInputElement>("watch-prefix").value));
  $("unwatch-btn").addEventListener("click", stopWatch);
  $("pause-btn").addEventListener("click", () => (paused ? resume() : pause()));
}

/** Watches every key with `prefix` ("" for all keys) from now on. */
export function startWatch(prefix: string): void {
  stopWatch();
  $<HTMLInputElement>("watch-prefix").value = prefix;
  const key = utf8(prefix);
  const ctl = new AbortController();
  watching = ctl;
  paused = false;
  held = [];
  seen = 0;
  $("events").replaceChildren();
  setButtons();
  const req = { create_request: { key: toB64(key === "" ? "\0" : key), range_end: toB64(prefixEnd(key)) } };
  stream("/v3/watch", JSON.stringify(req), (res) => {
    if (res.created) {
      add(
        h(
          "li.muted",
          null,
          `watching ${prefix || "all keys"} from revision ${Number(res.header?.revision) + 1}`,
        ),
      );
    }
    for (const ev of res.events ?? []) {
      seen++;
      add(eventItem(ev));
    }
    stats();
  }, ctl.signal).catch((e) => {
    if (!ctl.signal.aborted) say("watch: " + e.message, true);
  }).finally(() => {
    if (watching === ctl) {
      watching = null;
      setButtons();
    }
  });
}

function eventItem(ev: any): HTMLElement {
  const kv = ev.kv ?? {};
  const type = ev.type ?? "PUT";
  const key = display(fromB64(kv.key));
  const value = type === "PUT" ? " = " + display(fromB64(kv.value)).slice(0, 120) : "";
  return h(
    "li",
    { class: type === "PUT" ? "" : "bad", "data-key": key },
    h("span.time", null, new Date().toLocaleTimeString()),
    ` ${type} ${key}${value}  @${kv.mod_revision}`,
  );
}

function add(li: HTMLElement): void {
  if (paused) {
    held.push(li);
    return;
  }
  const list = $("events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild!.remove();
}

function pause(): void {
  paused = true;
  setButtons();
  stats();
}

function resume(): void {
  paused = false;
  const backlog = held;
  held = [];
  for (const li of backlog) add(li);
  setButtons();
  stats();
}

function stats(): void {
  $("watch-stats").textContent = `${seen} event(s)` + (paused ? `, ${held.length} held while paused` : "");
}

export function stopWatch(): void {
  watching?.abort();
  watching = null;
  if (paused) resume();
  setButtons();
}

function setButtons(): void {
  $<HTMLButtonElement>("unwatch-btn").disabled = watching === null;
  const p = $<HTMLButtonElement>("pause-btn");
  p.disabled = watching === null;
  p.textContent = paused ? "Resume" : "Pause";
}

// Charts ------------------------------------------------------------------------------

interface Sample {
  readonly at: number;
  readonly handled: number;
  readonly secs: number;
  readonly count: number;
  readonly rev: number;
  readonly keys: number;
  readonly db: number;
  readonly dbInUse: number;
}

const samples: Sample[] = [];
/** The longest window shown (what the server keeps), and the shortest. */
const WINDOW_MS = 15 * 60 * 1000;
const MIN_WINDOW_MS = 60 * 1000;

/** Fetches the samples taken since the last one and redraws the charts. */
export async function pollCharts(): Promise<void> {
  const after = samples.at(-1)?.at ?? 0;
  const r = await fetch(`/ui/metrics?after=${after}`);
  if (!r.ok) return;
  const j = await r.json() as { fields: string[]; samples: number[][] };
  const col = (name: string) => j.fields.indexOf(name);
  const idx = {
    handled: col("grpc_server_handled_total"),
    secs: col("grpc_server_handling_seconds_sum"),
    count: col("grpc_server_handling_seconds_count"),
    rev: col("etcd_debugging_mvcc_current_revision"),
    keys: col("etcd_debugging_mvcc_keys_total"),
    db: col("etcd_mvcc_db_total_size_in_bytes"),
    dbInUse: col("etcd_mvcc_db_total_size_in_use_in_bytes"),
  };
  for (const s of j.samples) {
    samples.push({
      at: s[0],
      handled: s[idx.handled],
      secs: s[idx.secs],
      count: s[idx.count],
      rev: s[idx.rev],
      keys: s[idx.keys],
      db: s[idx.db],
      dbInUse: s[idx.dbInUse],
    });
  }
  while (samples.length > 0 && samples[0].at < Date.now() - WINDOW_MS) samples.shift();
  drawCharts();
}

function drawCharts(): void {
  const rate: [number, number][] = [];
  const writes: [number, number][] = [];
  const latency: [number, number][] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = (b.at - a.at) / 1000;
    if (dt <= 0) continue;
    rate.push([b.at, Math.max(0, b.handled - a.handled) / dt]);
    writes.push([b.at, Math.max(0, b.rev - a.rev) / dt]);
    const n = b.count - a.count;
    latency.push([b.at, n > 0 ? ((b.secs - a.secs) / n) * 1000 : 0]);
  }
  const fixed = (d: number) => (v: number) => v.toFixed(v < 10 ? d : 0);
  chart("chart-rate", "requests / s", rate, fixed(1));
  chart("chart-writes", "writes (revisions) / s", writes, fixed(1));
  chart("chart-latency", "mean latency (ms)", latency, fixed(2));
  chart("chart-keys", "keys", samples.map((s) => [s.at, s.keys]), (v) => String(Math.round(v)));
  chart("chart-db", "db size", samples.map((s) => [s.at, s.db]), formatBytes);
}

const W = 300;
const H = 90;

/** A line chart over the window ending now: the curve, its area, the max and the latest value. */
function chart(id: string, title: string, points: [number, number][], fmt: (v: number) => string): void {
  const box = $(id);
  const now = Date.now();
  // The x axis spans the history there is (a new member's charts are not squeezed right).
  const span = Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, now - (samples[0]?.at ?? now)));
  const max = Math.max(1e-9, ...points.map((p) => p[1]));
  const x = (t: number) => (W - ((now - t) / span) * W).toFixed(1);
  const y = (v: number) => (H - 4 - (v / max) * (H - 18)).toFixed(1);
  const pts = points.map(([t, v]) => `${x(t)},${y(v)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.classList.add("chart");
  const add = (tag: string, attrs: Record<string, string>) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.append(e);
    return e;
  };
  const step = span > 5 * 60_000 ? 5 * 60_000 : 60_000;
  for (let t = now - step; t > now - span; t -= step) {
    add("line", { x1: x(t), x2: x(t), y1: "0", y2: String(H), class: "grid" });
  }
  add("line", { x1: "0", x2: String(W), y1: String(H - 4), y2: String(H - 4), class: "axis" });
  if (points.length > 1) {
    add("polygon", {
      points: `${x(points[0][0])},${H - 4} ${pts} ${x(points.at(-1)![0])},${H - 4}`,
      class: "area",
    });
  }
  add("polyline", { points: pts });
  const last = points.at(-1)?.[1];
  box.replaceChildren(
    h("div.chart-head", null, h("b", null, title), h("span", null, last === undefined ? "–" : fmt(last))),
    svg,
    h(
      "div.chart-foot",
      null,
      h("span", null, `${Math.round(span / 60_000)} min ago`),
      h("span", null, `max ${fmt(max)}`),
      h("span", null, "now"),
    ),
  );
  box.dataset.points = String(points.length);
}
