/**
 * etcdctl's default "simple" format: raw keys and values one per line, "OK" for a put,
 * comma-separated rows for member and endpoint lists.
 */
import type {
  DeleteRangeResponse,
  MemberAddResponse,
  MemberListResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { KeyValue } from "../../proto/gen/mvccpb/kv_pb.ts";
import { hexEscaped } from "../gofmt.ts";
import {
  Chunks,
  type EndpointHashKV,
  endpointHashKVRows,
  type EndpointHealth,
  type EndpointStatus,
  endpointStatusRows,
  memberListRows,
  type Printer,
  type PrintTarget,
} from "./printer.ts";

/** Go's %16x: hex, space-padded to 16 columns. */
function x16(id: bigint): string {
  return id.toString(16).padStart(16, " ");
}

export class SimplePrinter implements Printer {
  readonly format = "simple";
  readonly #hex: boolean;

  constructor(opts: { hex: boolean }) {
    this.#hex = opts.hex;
  }

  #kv(c: Chunks, kv: KeyValue, valueOnly = false): void {
    if (this.#hex) {
      if (!valueOnly) c.text(hexEscaped(kv.key) + "\n");
      c.text(hexEscaped(kv.value) + "\n");
      return;
    }
    if (!valueOnly) c.bytes(kv.key).text("\n");
    c.bytes(kv.value).text("\n");
  }

  #put(c: Chunks, r: PutResponse): void {
    c.text("OK\n");
    if (r.prevKv) this.#kv(c, r.prevKv);
  }

  #get(c: Chunks, r: RangeResponse, valueOnly: boolean): void {
    for (const kv of r.kvs) this.#kv(c, kv, valueOnly);
  }

  #del(c: Chunks, r: DeleteRangeResponse): void {
    c.text(`${r.deleted}\n`);
    for (const kv of r.prevKvs) this.#kv(c, kv);
  }

  put(out: PrintTarget, r: PutResponse): void {
    const c = new Chunks();
    this.#put(c, r);
    c.writeTo(out.stdout);
  }

  get(out: PrintTarget, r: RangeResponse, opts: { valueOnly: boolean }): void {
    const c = new Chunks();
    this.#get(c, r, opts.valueOnly);
    c.writeTo(out.stdout);
  }

  del(out: PrintTarget, r: DeleteRangeResponse): void {
    const c = new Chunks();
    this.#del(c, r);
    c.writeTo(out.stdout);
  }

  txn(out: PrintTarget, r: TxnResponse): void {
    const c = new Chunks().text(r.succeeded ? "SUCCESS\n" : "FAILURE\n");
    for (const op of r.responses) {
      c.text("\n");
      const v = op.response;
      if (v.case === "responseDeleteRange") this.#del(c, v.value);
      else if (v.case === "responsePut") this.#put(c, v.value);
      else if (v.case === "responseRange") this.#get(c, v.value, false);
      else c.text(`unexpected response ${String(v.case)}\n`);
    }
    c.writeTo(out.stdout);
  }

  memberAdd(out: PrintTarget, r: MemberAddResponse): void {
    out.stdout.write(
      `Member ${x16(r.member?.ID ?? 0n)} added to cluster ${x16(r.header?.clusterId ?? 0n)}\n`,
    );
  }
  memberRemove(out: PrintTarget, id: bigint, r: MemberRemoveResponse): void {
    out.stdout.write(`Member ${x16(id)} removed from cluster ${x16(r.header?.clusterId ?? 0n)}\n`);
  }
  memberUpdate(out: PrintTarget, id: bigint, r: MemberUpdateResponse): void {
    out.stdout.write(`Member ${x16(id)} updated in cluster ${x16(r.header?.clusterId ?? 0n)}\n`);
  }
  memberPromote(out: PrintTarget, id: bigint, r: MemberPromoteResponse): void {
    out.stdout.write(`Member ${x16(id)} promoted in cluster ${x16(r.header?.clusterId ?? 0n)}\n`);
  }
  moveLeader(out: PrintTarget, leader: bigint, target: bigint): void {
    out.stdout.write(`Leadership transferred from ${leader.toString(16)} to ${target.toString(16)}\n`);
  }
  memberList(out: PrintTarget, r: MemberListResponse): void {
    out.stdout.write(memberListRows(r).rows.map((row) => row.join(", ") + "\n").join(""));
  }

  endpointHealth(out: PrintTarget, list: EndpointHealth[]): void {
    out.stderr.write(
      list.map((h) =>
        h.error === ""
          ? `${h.ep} is healthy: successfully committed proposal: took = ${h.took}\n`
          : `${h.ep} is unhealthy: failed to commit proposal: ${h.error}\n`
      ).join(""),
    );
  }

  endpointStatus(out: PrintTarget, list: EndpointStatus[]): void {
    out.stdout.write(endpointStatusRows(list).rows.map((row) => row.join(", ") + "\n").join(""));
  }

  endpointHashKV(out: PrintTarget, list: EndpointHashKV[]): void {
    out.stdout.write(endpointHashKVRows(list).rows.map((row) => row.join(", ") + "\n").join(""));
  }
}
