/**
 * The few DOM helpers the views share: building elements, the status line, and the one
 * confirmation every write goes through.
 */

type Child = Node | string | null | undefined | false;

/** An element by id (the page's static skeleton). */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`console: no #${id}`);
  return e as T;
}

/** `h("button.danger#del", {title: "x"}, "Delete")`: a tag with optional .classes and #id. */
export function h<K extends keyof HTMLElementTagNameMap>(
  spec: K | `${K}${"." | "#"}${string}`,
  attrs: Record<string, string | number | boolean | null | undefined> | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const [, tag, rest] = /^([a-z0-9]+)(.*)$/.exec(spec)!;
  const e = document.createElement(tag as K);
  for (const part of rest.match(/[.#][^.#]+/g) ?? []) {
    if (part[0] === ".") e.classList.add(part.slice(1));
    else e.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("data-")) e.setAttribute(k, String(v));
    else if (k in e && typeof v !== "string") (e as any)[k] = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** A button that runs `action` (errors go to the status line). */
export function button(label: string, action: () => unknown, cls = ""): HTMLButtonElement {
  const b = h("button", { type: "button" }, label);
  if (cls) b.className = cls;
  b.addEventListener("click", () => run(action));
  return b;
}

/** A table: a header row, then rows. */
export function table(head: readonly string[], rows: readonly Child[][], id?: string): HTMLTableElement {
  const t = h("table", { id });
  t.append(h("thead", null, h("tr", null, ...head.map((x) => h("th", null, x)))));
  t.append(h("tbody", null, ...rows.map((r) => h("tr", null, ...r.map((c) => h("td", null, c))))));
  return t;
}

/** Says something on the status line; `bad` for failures. */
export function say(text: string, bad = false): void {
  const m = $("msg");
  m.textContent = text;
  m.className = bad ? "bad" : "ok";
  m.dataset.at = String(Date.now());
}

/** Runs an action, reporting a failure on the status line. */
export async function run(action: () => unknown): Promise<void> {
  try {
    await action();
  } catch (e) {
    say((e as Error).message, true);
  }
}

/** Every write asks first: "Put key x?" Returns whether the user agreed. */
export function confirmWrite(question: string): boolean {
  return globalThis.confirm(question);
}

/** A form's submit handler that does not reload the page. */
export function onSubmit(form: HTMLFormElement, action: () => unknown): void {
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(action);
  });
}

/** An ID (decimal string) in hex, as etcdctl prints member and lease IDs. */
export function hexId(id: string | number | undefined): string {
  return id === undefined || id === "" ? "" : BigInt(id).toString(16);
}

/** Seconds as "1h 2m 3s". */
export function duration(s: number): string {
  if (s < 0) return "expired";
  const parts: string[] = [];
  if (s >= 3600) parts.push(Math.floor(s / 3600) + "h");
  if (s >= 60) parts.push(Math.floor((s % 3600) / 60) + "m");
  parts.push((s % 60) + "s");
  return parts.join(" ");
}
