/**
 * `-w fields`: etcdctl's `"Name" : value` lines, one per field, for scripts that grep.
 */
import type {
  DeleteRangeResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { KeyValue } from "../../proto/gen/mvccpb/kv_pb.ts";
import { goQuote } from "../gofmt.ts";
import type { EndpointHashKV, EndpointHealth, EndpointStatus, Printer, PrintTarget } from "./printer.ts";

function kvLines(pfx: string, kv: KeyValue): string {
  return `"${pfx}Key" : ${goQuote(kv.key)}\n` +
    `"${pfx}CreateRevision" : ${kv.createRevision}\n` +
    `"${pfx}ModRevision" : ${kv.modRevision}\n` +
    `"${pfx}Version" : ${kv.version}\n` +
    `"${pfx}Value" : ${goQuote(kv.value)}\n` +
    `"${pfx}Lease" : ${kv.lease}\n`;
}

/** etcdctl's fields header lines. */
export function hdrLines(h: ResponseHeader | undefined): string {
  return `"ClusterID" : ${h?.clusterId ?? 0n}\n` +
    `"MemberID" : ${h?.memberId ?? 0n}\n` +
    `"Revision" : ${h?.revision ?? 0n}\n` +
    `"RaftTerm" : ${h?.raftTerm ?? 0n}\n`;
}

function putText(r: PutResponse): string {
  return hdrLines(r.header) + (r.prevKv ? kvLines("Prev", r.prevKv) : "");
}

function getText(r: RangeResponse): string {
  return hdrLines(r.header) + r.kvs.map((kv) => kvLines("", kv)).join("") +
    `"More" : ${r.more}\n"Count" : ${r.count}\n`;
}

function delText(r: DeleteRangeResponse): string {
  return hdrLines(r.header) + `"Deleted" : ${r.deleted}\n` +
    r.prevKvs.map((kv) => kvLines("Prev", kv)).join("");
}

// Go's fmt.Println of a []string: [a b c].
function goStringList(xs: string[]): string {
  return `[${xs.join(" ")}]`;
}

export class FieldsPrinter implements Printer {
  readonly format = "fields";

  put(out: PrintTarget, r: PutResponse): void {
    out.stdout.write(putText(r));
  }

  get(out: PrintTarget, r: RangeResponse): void {
    out.stdout.write(getText(r));
  }

  del(out: PrintTarget, r: DeleteRangeResponse): void {
    out.stdout.write(delText(r));
  }

  txn(out: PrintTarget, r: TxnResponse): void {
    let s = hdrLines(r.header) + `"Succeeded" : ${r.succeeded}\n`;
    for (const op of r.responses) {
      const v = op.response;
      if (v.case === "responseDeleteRange") s += delText(v.value);
      else if (v.case === "responsePut") s += putText(v.value);
      else if (v.case === "responseRange") s += getText(v.value);
      else s += `"Unknown" : ${goQuote(String(v.case))}\n`;
    }
    out.stdout.write(s);
  }

  memberList(out: PrintTarget, r: MemberListResponse): void {
    let s = hdrLines(r.header);
    for (const m of r.members) {
      s += `"ID" : ${m.ID}\n"Name" : ${goQuote(m.name)}\n`;
      for (const u of m.peerURLs) s += `"PeerURL" : ${goQuote(u)}\n`;
      for (const u of m.clientURLs) s += `"ClientURL" : ${goQuote(u)}\n`;
      s += `"IsLearner" : ${m.isLearner}\n\n`;
    }
    out.stdout.write(s);
  }

  endpointHealth(out: PrintTarget, list: EndpointHealth[]): void {
    out.stdout.write(
      list.map((h) =>
        `"Endpoint" : ${goQuote(h.ep)}\n"Health" : ${h.health}\n"Took" : ${h.took}\n"Error" : ${h.error}\n\n`
      ).join(""),
    );
  }

  endpointStatus(out: PrintTarget, list: EndpointStatus[]): void {
    out.stdout.write(
      list.map(({ ep, resp }) =>
        hdrLines(resp.header) +
        `"Version" : ${goQuote(resp.version)}\n"DBSize" : ${resp.dbSize}\n"Leader" : ${resp.leader}\n` +
        `"IsLearner" : ${resp.isLearner}\n"RaftIndex" : ${resp.raftIndex}\n"RaftTerm" : ${resp.raftTerm}\n` +
        `"RaftAppliedIndex" : ${resp.raftAppliedIndex}\n"Errors" : ${goStringList(resp.errors)}\n` +
        `"Endpoint" : ${goQuote(ep)}\n\n`
      ).join(""),
    );
  }

  endpointHashKV(out: PrintTarget, list: EndpointHashKV[]): void {
    out.stdout.write(
      list.map(({ ep, resp }) =>
        hdrLines(resp.header) + `"Endpoint" : ${goQuote(ep)}\n"Hash" : ${resp.hash}\n\n`
      )
        .join(""),
    );
  }
}
