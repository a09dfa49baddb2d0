/**
 * `-w table`: olekukonko/tablewriter's default box (as etcdctl configures it: headers
 * upper-cased and centred, cells right-aligned). Only list-like responses support it.
 */
import type { MemberListResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import {
  type EndpointHashKV,
  endpointHashKVRows,
  type EndpointHealth,
  endpointHealthRows,
  type EndpointStatus,
  endpointStatusRows,
  memberListRows,
  type Printer,
  type PrintTarget,
} from "./printer.ts";

/** Renders a table the way tablewriter.Render does with etcdctl's settings. */
export function renderTable(hdr: string[], rows: string[][]): string {
  const title = hdr.map((h) => h.replaceAll("_", " ").trim().toUpperCase());
  const widths = title.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const border = "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+\n";
  const center = (s: string, w: number) => {
    const gap = w - width(s);
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + s + " ".repeat(gap - left);
  };
  let out = border;
  out += "|" + title.map((h, i) => ` ${center(h, widths[i])} `).join("|") + "|\n";
  out += border;
  for (const r of rows) {
    out += "|" + widths.map((w, i) =>
      ` ${(r[i] ?? "").padStart(w - width(r[i] ?? "") + (r[i] ?? "").length)} `
    ).join("|") +
      "|\n";
  }
  out += border;
  return out;
}

function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export class TablePrinter implements Printer {
  readonly format = "table";

  memberList(out: PrintTarget, r: MemberListResponse): void {
    const { hdr, rows } = memberListRows(r);
    out.stdout.write(renderTable(hdr, rows));
  }

  endpointHealth(out: PrintTarget, list: EndpointHealth[]): void {
    const { hdr, rows } = endpointHealthRows(list);
    out.stdout.write(renderTable(hdr, rows));
  }

  endpointStatus(out: PrintTarget, list: EndpointStatus[]): void {
    const { hdr, rows } = endpointStatusRows(list);
    out.stdout.write(renderTable(hdr, rows));
  }

  endpointHashKV(out: PrintTarget, list: EndpointHashKV[]): void {
    const { hdr, rows } = endpointHashKVRows(list);
    out.stdout.write(renderTable(hdr, rows));
  }
}
