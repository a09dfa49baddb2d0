/**
 * The Keys view: the key tree (lazy, one level at a time, searchable, at any revision not
 * yet compacted), and the selected key's value (pretty, validated while edited), metadata
 * and history with a diff between any two revisions.
 */
import {
  compactedRevision,
  countKeys,
  deleteKeys,
  getKey,
  type KeyEvent,
  keyHistory,
  type KeyValue,
  putKey,
  rangeKeys,
} from "../api.ts";
import { display, formatBytes, prefixEnd, utf8 } from "../bytes.ts";
import { diffLines } from "../diff.ts";
import { $, button, confirmWrite, h, hexId, onSubmit, run, say } from "../dom.ts";
import { type Child, listLevel, searchLevel } from "../tree.ts";
import { hexDump, inspectValue, textToStore, validate, type ValueFormat, type ValueView } from "../values.ts";

/** Entries per level before "more…". */
const PAGE = 200;

const state = {
  sep: "/",
  /** The revision viewed; 0 for the latest. */
  revision: 0,
  compacted: 0,
  selected: null as string | null,
  expanded: new Set<string>(),
};

/** Called with a prefix when the user asks to watch it. */
let watchPrefix: (prefix: string) => void = () => {};

export function initKeys(opts: { onWatch: (prefix: string) => void }): void {
  watchPrefix = opts.onWatch;
  onSubmit($<HTMLFormElement>("tree-form"), () => {
    state.sep = $<HTMLInputElement>("sep").value;
    state.expanded.clear();
    return renderTree();
  });
  onSubmit($<HTMLFormElement>("rev-form"), () => {
    const v = $<HTMLInputElement>("at-rev").value.trim();
    return viewRevision(v === "" ? 0 : Number(v));
  });
  $("rev-latest").addEventListener("click", () => run(() => viewRevision(0)));
  $("new-key").addEventListener("click", () => newKeyForm());
}

/** Shows the Keys view (again): the tree as it is now. */
export async function showKeys(): Promise<void> {
  await refreshCompaction();
  await renderTree();
}

async function refreshCompaction(): Promise<void> {
  const c = $("compacted");
  const probe = utf8($<HTMLInputElement>("prefix").value) || "\0";
  try {
    state.compacted = await compactedRevision(probe);
  } catch (e) {
    c.textContent = `compaction: ${(e as Error).message}`;
    return;
  }
  c.textContent = state.compacted > 0
    ? `history compacted at revision ${state.compacted}`
    : "history complete";
}

/** Views the tree at a past revision (0: the latest). */
async function viewRevision(rev: number): Promise<void> {
  if (!Number.isInteger(rev) || rev < 0) throw new Error("a revision is a whole number");
  await refreshCompaction();
  if (rev !== 0 && rev < state.compacted) {
    throw new Error(`revision ${rev} is compacted: history starts at ${state.compacted}`);
  }
  state.revision = rev;
  $<HTMLInputElement>("at-rev").value = rev === 0 ? "" : String(rev);
  const banner = $("tt-banner");
  banner.hidden = rev === 0;
  banner.textContent = rev === 0 ? "" : `Viewing revision ${rev}: read-only.`;
  await renderTree();
  if (state.selected !== null) await openKey(state.selected);
}

/** Lists the tree's top (or the searched prefix) and re-expands what was open. */
export async function renderTree(): Promise<void> {
  const root = $("tree");
  const prefix = utf8($<HTMLInputElement>("prefix").value);
  const search = prefix === "" ? { base: "" } : searchLevel(prefix, state.sep);
  root.replaceChildren();
  const started = performance.now();
  const level = await loadLevel(root, search);
  const ms = performance.now() - started;
  const keys = level.children.reduce((n, c) => n + c.count, 0);
  $("tree-info").textContent = `${search.base ? display(search.base) + ": " : ""}${level.children.length}${
    level.next ? "+" : ""
  } entries, ${keys}${level.next ? "+" : ""} keys at revision ${level.revision} (${
    ms.toFixed(0)
  } ms, ${level.ranges} ranges)`;
  $("tree-info").dataset.ms = ms.toFixed(1);
}

/** Lists one level into `ul`, with "more…" when it has more than a page. */
async function loadLevel(
  ul: HTMLElement,
  where: { base: string; from?: string; to?: string },
): Promise<{ children: Child[]; next: string | null; revision: number; ranges: number }> {
  const loading = h("li.muted", null, "loading…");
  ul.append(loading);
  try {
    const level = await listLevel(rangeKeys, {
      base: where.base,
      from: where.from,
      to: where.to,
      sep: state.sep,
      max: PAGE,
      revision: state.revision,
      onEntry: (child) => loading.before(child.kind === "dir" ? dirItem(child) : keyItem(child)),
    });
    loading.remove();
    if (level.next !== null) {
      const more = h("li.more", null, "more…");
      more.addEventListener("click", () => {
        more.remove();
        run(() => loadLevel(ul, { ...where, from: level.next! }));
      });
      ul.append(more);
    }
    if (level.children.length === 0 && ul.id === "tree") ul.append(h("li.muted", null, "no keys"));
    return level;
  } catch (e) {
    loading.textContent = (e as Error).message;
    loading.className = "bad";
    throw e;
  }
}

function keyItem(child: Child): HTMLElement {
  const li = h("li.key", { "data-key": display(child.path) }, h("span.name", null, display(child.name)));
  if (child.path === state.selected) li.classList.add("sel");
  li.addEventListener("click", (ev) => {
    ev.stopPropagation();
    run(() => openKey(child.path));
  });
  return li;
}

function dirItem(child: Child): HTMLElement {
  const sub = h("ul");
  const row = h(
    "div.row-dir",
    null,
    h("span.twisty", null, "▸"),
    h("span.name", null, display(child.name)),
    h("span.count", null, String(child.count)),
  );
  const li = h("li.dir", { "data-dir": display(child.path) }, row, sub);
  let loaded = false;
  const toggle = async (open: boolean) => {
    li.classList.toggle("open", open);
    row.firstElementChild!.textContent = open ? "▾" : "▸";
    if (open) state.expanded.add(child.path);
    else state.expanded.delete(child.path);
    if (open && !loaded) {
      loaded = true;
      await loadLevel(sub, { base: child.path });
    }
  };
  row.addEventListener("click", (ev) => {
    ev.stopPropagation();
    run(async () => {
      showFolder(child);
      await toggle(!li.classList.contains("open"));
    });
  });
  if (state.expanded.has(child.path)) run(() => toggle(true));
  return li;
}

function select(key: string | null): void {
  state.selected = key;
  for (const li of $("tree").querySelectorAll("li.sel")) li.classList.remove("sel");
  if (key !== null) {
    const li = $("tree").querySelector(`li.key[data-key="${CSS.escape(display(key))}"]`);
    li?.classList.add("sel");
  }
}

/** A folder's pane: its key count, watch it, delete it. */
function showFolder(child: Child): void {
  select(null);
  const pane = $("key-pane");
  const readOnly = state.revision !== 0;
  pane.replaceChildren(
    h("h2#key-title", null, display(child.path)),
    h(
      "p",
      null,
      `${child.count} key(s) under this prefix${readOnly ? ` at revision ${state.revision}` : ""}.`,
    ),
    h(
      "div.actions",
      null,
      button("Watch this prefix", () => watchPrefix(child.path), "plain"),
      readOnly ? null : button(`Delete ${child.count} key(s)…`, () => deleteFolder(child.path), "danger"),
    ),
  );
}

async function deleteFolder(prefix: string): Promise<void> {
  const n = await countKeys(prefix, prefixEnd(prefix));
  if (!confirmWrite(`Delete all ${n} key(s) under ${display(prefix)}?`)) return;
  const deleted = await deleteKeys(prefix, true);
  say(`deleted ${deleted} key(s) under ${display(prefix)}`);
  $("key-pane").replaceChildren(h("p.muted", null, "Select a key."));
  await renderTree();
}

/** Opens a key: value, metadata, history. */
export async function openKey(key: string): Promise<void> {
  select(key);
  const { kv, revision } = await getKey(key, state.revision);
  const pane = $("key-pane");
  if (kv === null) {
    pane.replaceChildren(
      h("h2#key-title", null, display(key)),
      h("p.muted", null, `No such key at revision ${revision}.`),
      h("div#history"),
    );
  } else {
    pane.replaceChildren(...keyDetails(kv, revision));
  }
  await renderHistory(key, kv);
}

function keyDetails(kv: KeyValue, revision: number): HTMLElement[] {
  const readOnly = state.revision !== 0;
  const lease = kv.lease === "" ? "none" : hexId(kv.lease);
  const meta = h(
    "div#key-meta.meta",
    null,
    metaItem("created", String(kv.createRevision)),
    metaItem("modified", String(kv.modRevision)),
    metaItem("version", String(kv.version)),
    metaItem("lease", lease),
    metaItem("size", formatBytes(kv.value.length)),
    metaItem("read at", String(revision)),
  );
  const editor = valueEditor(
    kv.value,
    readOnly ? null : async (value) => {
      if (!confirmWrite(`Put ${display(kv.key)} (${value.length} bytes)?`)) return;
      const rev = await putKey(kv.key, value, kv.lease);
      say(`put ${display(kv.key)} at revision ${rev}`);
      await openKey(kv.key);
    },
  );
  const actions = h("div.actions");
  if (editor.save !== null) actions.append(editor.save);
  const other = readOnly
    ? button("Restore this value", () => restore(kv), "plain")
    : button("Delete", () => removeKey(kv.key), "danger");
  other.id = readOnly ? "restore-btn" : "delete-btn";
  actions.append(other);
  return [h("h2#key-title", null, display(kv.key)), meta, editor.box, actions, h("div#history")];
}

function metaItem(name: string, value: string): HTMLElement {
  return h("span", null, name + " ", h("b", null, value));
}

async function restore(kv: KeyValue): Promise<void> {
  if (!confirmWrite(`Put ${display(kv.key)} back to its value at revision ${kv.modRevision}?`)) return;
  const rev = await putKey(kv.key, kv.value);
  say(`restored ${display(kv.key)} at revision ${rev}`);
}

async function removeKey(key: string): Promise<void> {
  if (!confirmWrite(`Delete key ${display(key)}?`)) return;
  const n = await deleteKeys(key);
  say(`deleted ${n} key(s)`);
  select(null);
  $("key-pane").replaceChildren(h("p.muted", null, "Select a key."));
  await renderTree();
}

/**
 * A value's view and editor: format chosen from the content (and changeable), JSON
 * indented, validation as you type, binary and Kubernetes protobuf as a hex dump.
 * `save` gets the bytes to store; null makes it read-only (and there is no Save button).
 */
function valueEditor(
  value: string,
  save: ((value: string) => Promise<void>) | null,
): { box: HTMLElement; save: HTMLButtonElement | null } {
  const readOnly = save === null;
  const view = inspectValue(value);
  const box = h("div.value");
  const formats: ValueFormat[] = view.text === null ? [view.format] : ["json", "yaml", "text"];
  const pick = h(
    "select#value-format",
    null,
    ...formats.map((f) => h("option", { value: f }, FORMAT_NAMES[f])),
  );
  pick.value = view.format;
  const label = h("span#value-kind.badge", null, kindLabel(view));
  const check = h("div#value-check.muted");
  const area = h("textarea#value-editor", { spellcheck: "false" });
  const saveBtn = button("Save", () => save?.(store()));
  saveBtn.id = "save-btn";
  const store = () =>
    utf8(textToStore({ format: pick.value as ValueFormat, compact: view.compact }, area.value));
  const recheck = () => {
    const r = validate(pick.value as ValueFormat, area.value);
    check.textContent = r.ok
      ? (pick.value === "text" ? "" : `valid ${FORMAT_NAMES[pick.value as ValueFormat]}`)
      : r.message;
    check.className = r.ok ? "ok" : "bad";
    saveBtn.disabled = !r.ok;
  };
  const show = () => {
    area.value = pick.value === "json" && view.format === "json" ? view.pretty! : view.text ?? "";
    area.rows = Math.min(18, Math.max(4, area.value.split("\n").length + 1));
    recheck();
  };
  box.append(h("div.value-head", null, label, pick));
  if (view.text === null) {
    box.append(h("pre#value-hex.hex", null, hexDump(value)));
    if (view.format === "k8s") {
      box.append(
        h("p.muted", null, "Kubernetes stores this object as protobuf; it is shown as bytes, read-only."),
      );
    }
    return { box, save: null };
  }
  area.readOnly = readOnly;
  area.addEventListener("input", recheck);
  pick.addEventListener("change", show);
  show();
  box.append(area, check);
  return { box, save: readOnly ? null : saveBtn };
}

const FORMAT_NAMES: Record<ValueFormat, string> = {
  json: "JSON",
  yaml: "YAML",
  text: "text",
  binary: "binary",
  k8s: "Kubernetes protobuf",
};

function kindLabel(view: ValueView): string {
  if (view.format === "k8s") {
    return view.k8s ? `Kubernetes protobuf: ${view.k8s.apiVersion} ${view.k8s.kind}` : "Kubernetes protobuf";
  }
  return FORMAT_NAMES[view.format];
}

/** The new-key form: key, value (any format), optional lease. */
function newKeyForm(): void {
  select(null);
  const name = h("input#new-key-name", { placeholder: "key", autocomplete: "off" });
  const lease = h("input#new-key-lease", { placeholder: "lease ID, hex (optional)", autocomplete: "off" });
  const prefix = $<HTMLInputElement>("prefix").value;
  name.value = prefix;
  const editor = valueEditor("", async (value) => {
    const key = utf8(name.value);
    if (key === "") throw new Error("a key is required");
    if (!confirmWrite(`Put ${name.value} (${value.length} bytes)?`)) return;
    const leaseId = lease.value.trim() === "" ? "" : BigInt("0x" + lease.value.trim()).toString();
    const rev = await putKey(key, value, leaseId);
    say(`put ${name.value} at revision ${rev}`);
    await renderTree();
    await openKey(key);
  });
  $("key-pane").replaceChildren(
    h("h2#key-title", null, "New key"),
    h("div.row", null, name, lease),
    editor.box,
    h("div.actions", null, editor.save),
  );
  name.focus();
}

/** The key's history: every change still kept, two of them chosen for a diff. */
async function renderHistory(key: string, current: KeyValue | null): Promise<void> {
  const box = $("history");
  box.replaceChildren(h("h3", null, "History"), h("p.muted", null, "loading…"));
  const { events, compacted } = await keyHistory(key);
  if (state.selected !== key) return;
  const note = compacted > 0 ? `Revisions before ${compacted} are compacted.` : "Complete history.";
  if (events.length === 0) {
    box.replaceChildren(h("h3", null, "History"), h("p.muted", null, `No changes kept. ${note}`));
    return;
  }
  const puts = events.filter((e) => e.type === "PUT");
  let a = puts.length > 1 ? puts[puts.length - 2] : events[0];
  let b = current !== null
    ? events.find((e) => e.kv.modRevision === current.modRevision) ?? puts.at(-1)!
    : events.at(-1)!;
  const diff = h("div#diff.diff");
  const redraw = () => diff.replaceChildren(...diffView(a, b));
  const rows = events.slice().reverse().map((ev) => {
    const ra = h("input", {
      type: "radio",
      name: "diff-a",
      value: String(ev.kv.modRevision),
      checked: ev === a,
    });
    const rb = h("input", {
      type: "radio",
      name: "diff-b",
      value: String(ev.kv.modRevision),
      checked: ev === b,
    });
    ra.addEventListener("change", () => {
      a = ev;
      redraw();
    });
    rb.addEventListener("change", () => {
      b = ev;
      redraw();
    });
    const rev = h("a", { href: "#keys", title: "view the tree at this revision" }, String(ev.kv.modRevision));
    rev.addEventListener("click", (e) => {
      e.preventDefault();
      run(() => viewRevision(ev.kv.modRevision));
    });
    const excerpt = ev.type === "DELETE" ? "" : preview(ev.kv.value);
    return h(
      "tr",
      { "data-rev": ev.kv.modRevision },
      h("td", null, ra),
      h("td", null, rb),
      h("td", null, rev),
      h("td", { class: ev.type === "DELETE" ? "bad nowrap" : "nowrap" }, ev.type),
      h("td", null, ev.type === "DELETE" ? "" : String(ev.kv.version)),
      h("td.excerpt", null, excerpt),
    );
  });
  const t = h(
    "table#history-table",
    null,
    h(
      "thead",
      null,
      h("tr", null, ...["A", "B", "revision", "", "version", "value"].map((x) => h("th", null, x))),
    ),
    h("tbody", null, ...rows),
  );
  redraw();
  box.replaceChildren(h("h3", null, `History (${events.length} changes)`), h("p.muted", null, note), t, diff);
}

function preview(value: string): string {
  const v = inspectValue(value);
  const text = v.text === null ? `${FORMAT_NAMES[v.format]}, ${value.length} bytes` : v.text;
  return text.length > 80 ? text.slice(0, 80) + "…" : text;
}

/** The diff of two changes' values (JSON compared indented, so one field is one line). */
function diffView(a: KeyEvent, b: KeyEvent): HTMLElement[] {
  const text = (e: KeyEvent) => {
    if (e.type === "DELETE") return "";
    const v = inspectValue(e.kv.value);
    return v.pretty ?? hexDump(e.kv.value);
  };
  const head = h("div.muted", null, `revision ${a.kv.modRevision} → ${b.kv.modRevision}`);
  const lines = diffLines(text(a), text(b)).map((l) =>
    h(
      `div.${l.op === "+" ? "add" : l.op === "-" ? "del" : "same"}`,
      null,
      `${l.op === "=" ? " " : l.op} ${l.text}`,
    )
  );
  return [head, ...lines];
}
