/**
 * The Cluster view: each member's own status (asked of its gateway, as `etcdctl endpoint
 * status --cluster` does), alarms with disarm, defragment, compaction and a snapshot
 * download.
 */
import { call, GatewayError, stream } from "../api.ts";
import { formatBytes } from "../bytes.ts";
import { $, button, confirmWrite, h, hexId, onSubmit, say } from "../dom.ts";

interface Member {
  readonly ID: string;
  readonly name?: string;
  readonly clientURLs?: string[];
  readonly peerURLs?: string[];
  readonly isLearner?: boolean;
}

export function initCluster(): void {
  onSubmit($<HTMLFormElement>("compact-form"), compact);
  $("snapshot-btn").addEventListener("click", () => snapshot().catch((e) => say(e.message, true)));
}

/** The gateway to ask for a member: this page's own server for itself. */
function baseOf(m: Member, self: string): string {
  return m.ID === self ? "" : (m.clientURLs ?? [])[0] ?? "";
}

/** Lists members, their status and the alarms. */
export async function showCluster(): Promise<void> {
  const own = await call<any>("/v3/maintenance/status", {});
  const self = String(own.header?.member_id ?? "");
  const { members = [] } = await call<{ members?: Member[] }>("/v3/cluster/member/list", {});
  const statuses = await Promise.all(
    members.map((m) =>
      m.ID === self ? Promise.resolve(own) : !baseOf(m, self) ? Promise.resolve(null) : call<any>(
        "/v3/maintenance/status",
        {},
        baseOf(m, self),
      ).catch(() => null)
    ),
  );
  $("member-rows").replaceChildren(
    ...members.map((m, i) => memberRow(m, statuses[i], { self, leader: String(own.leader ?? "") })),
  );
  const rev = $<HTMLInputElement>("compact-rev");
  if (rev.value === "") rev.placeholder = `revision (now ${own.header?.revision ?? "?"})`;
  await showAlarms();
}

function memberRow(m: Member, s: any, who: { self: string; leader: string }): HTMLElement {
  const { self, leader } = who;
  const size = Number(s?.dbSize ?? 0);
  const inUse = Number(s?.dbSizeInUse ?? 0);
  const frag = size > 0 ? Math.max(0, (1 - inUse / size) * 100) : 0;
  const role = m.isLearner ? "learner" : leader === m.ID ? "leader" : "follower";
  const cells = s === null
    ? [h("td.bad", { colspan: 6 }, m.clientURLs?.length ? "unreachable from this browser" : "not started")]
    : [
      h("td", null, s.version ?? ""),
      h("td", null, `${s.raftTerm ?? 0}`),
      h("td", null, `${s.raftIndex ?? 0} / ${s.raftAppliedIndex ?? 0}`),
      h("td", null, `${formatBytes(size)} / ${formatBytes(inUse)}`),
      h("td", { class: frag > 50 ? "bad" : "" }, `${frag.toFixed(0)}%`),
      h("td.bad", null, (s.errors ?? []).join("; ")),
    ];
  return h(
    "tr",
    { "data-member": m.name ?? "" },
    h("td", null, (m.name || "(unstarted)") + (m.ID === self ? " (this)" : "")),
    h("td.mono", null, hexId(m.ID)),
    h("td", { class: role === "leader" ? "ok" : "" }, role === "leader" ? "★ leader" : role),
    ...cells,
    h("td.urls", null, (m.clientURLs ?? []).join(", ")),
    h("td", null, s === null ? null : button("Defragment", () => defrag(m, self), "plain defrag")),
  );
}

async function defrag(m: Member, self: string): Promise<void> {
  if (
    !confirmWrite(`Defragment member ${m.name || hexId(m.ID)}? It blocks its reads and writes meanwhile.`)
  ) {
    return;
  }
  await call("/v3/maintenance/defragment", {}, baseOf(m, self));
  say(`defragmented ${m.name || hexId(m.ID)}`);
  await showCluster();
}

async function showAlarms(): Promise<void> {
  const r = await call<{ alarms?: { memberID?: string; alarm?: string }[] }>("/v3/maintenance/alarm", {
    action: "GET",
  });
  const alarms = r.alarms ?? [];
  const box = $("alarm-list");
  if (alarms.length === 0) {
    box.replaceChildren(h("li.muted", null, "no alarms"));
    return;
  }
  box.replaceChildren(
    ...alarms.map((a) =>
      h(
        "li.bad",
        { "data-alarm": a.alarm ?? "NONE" },
        `${a.alarm ?? "NONE"} on member ${hexId(a.memberID ?? "0")} `,
        button("Disarm", async () => {
          if (!confirmWrite(`Disarm ${a.alarm} on member ${hexId(a.memberID ?? "0")}?`)) return;
          await call("/v3/maintenance/alarm", { action: "DEACTIVATE", memberID: a.memberID, alarm: a.alarm });
          say(`disarmed ${a.alarm}`);
          await showCluster();
        }, "plain disarm"),
      )
    ),
  );
}

async function compact(): Promise<void> {
  const input = $<HTMLInputElement>("compact-rev");
  const status = await call<any>("/v3/maintenance/status", {});
  const rev = input.value.trim() === "" ? Number(status.header?.revision) : Number(input.value);
  if (!Number.isInteger(rev) || rev <= 0) throw new Error("a revision is a whole number");
  const physical = $<HTMLInputElement>("compact-physical").checked;
  if (!confirmWrite(`Compact history before revision ${rev}? Older revisions are gone for good.`)) return;
  await call("/v3/kv/compaction", { revision: String(rev), physical });
  say(`compacted at revision ${rev}`);
}

/** Streams the snapshot through the gateway into a file the browser saves. */
async function snapshot(): Promise<void> {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  const status = $("snapshot-status");
  await stream("/v3/maintenance/snapshot", "{}", (res) => {
    if (res.blob) {
      const bin = atob(res.blob);
      parts.push(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
      total += bin.length;
      status.textContent = `${formatBytes(total)} received`;
    }
  });
  if (total === 0) throw new GatewayError(2, "the snapshot was empty");
  const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
  const a = h("a", { href: url, download: `etcdts-snapshot-${new Date().toISOString().slice(0, 19)}.db` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  status.textContent = `snapshot saved (${formatBytes(total)})`;
  say(`snapshot downloaded: ${formatBytes(total)}`);
}
