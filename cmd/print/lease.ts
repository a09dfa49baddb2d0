/**
 * The lease commands' output in every format, as etcdctl 3.4 renders clientv3's wrapper
 * types: their JSON inlines the header fields (an embedded *ResponseHeader), their
 * `-w protobuf` prints only the header's bytes (the embedded header's Marshal is the only
 * one the wrapper has), and `lease revoke -w protobuf` fails because that wrapper has none.
 * `-w table` supports none of them.
 */
import { toBinary } from "@bufbuild/protobuf";
import {
  type LeaseGrantResponse,
  type LeaseKeepAliveResponse,
  type LeaseLeasesResponse,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveResponse,
  type ResponseHeader,
  ResponseHeaderSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { CliError, ExitCode } from "../errors.ts";
import { goQuote } from "../gofmt.ts";
import { goJson } from "./json.ts";
import type { PrintTarget } from "./printer.ts";

/** One lease response to print. */
export type LeaseOutput =
  | { kind: "grant"; r: LeaseGrantResponse }
  | { kind: "revoke"; id: bigint; r: LeaseRevokeResponse }
  | { kind: "keepAlive"; r: LeaseKeepAliveResponse }
  | { kind: "timeToLive"; r: LeaseTimeToLiveResponse; keys: boolean }
  | { kind: "leases"; r: LeaseLeasesResponse };

/** Go's %016x of an int64 (a minus sign and the magnitude for negatives). */
export function leaseHex(id: bigint): string {
  return id < 0n ? `-${(-id).toString(16).padStart(15, "0")}` : id.toString(16).padStart(16, "0");
}

/** Prints one lease response in `format` (etcdctl's -w), failing as etcdctl does where it cannot. */
export function printLease(format: string, out: PrintTarget, o: LeaseOutput): void {
  switch (format) {
    case "simple":
      return out.stdout.write(simple(o)) as void;
    case "json":
      return out.stdout.write(json(o) + "\n") as void;
    case "fields":
      return out.stdout.write(fields(o)) as void;
    case "protobuf":
      return out.stdout.write(protobuf(o)) as void;
    default:
      throw new CliError(ExitCode.BadFeature, `${format} not supported as output format`);
  }
}

function simple(o: LeaseOutput): string {
  switch (o.kind) {
    case "grant":
      return `lease ${leaseHex(o.r.ID)} granted with TTL(${o.r.TTL}s)\n`;
    case "revoke":
      return `lease ${leaseHex(o.id)} revoked\n`;
    case "keepAlive":
      return `lease ${leaseHex(o.r.ID)} keepalived with TTL(${o.r.TTL})\n`;
    case "timeToLive": {
      const r = o.r;
      if (r.grantedTTL === 0n && r.TTL === -1n) return `lease ${leaseHex(r.ID)} already expired\n`;
      let txt = `lease ${leaseHex(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
      if (o.keys) txt += `, attached keys([${r.keys.map((k) => new TextDecoder().decode(k)).join(" ")}])`;
      return txt + "\n";
    }
    case "leases":
      return `found ${o.r.leases.length} leases\n` + o.r.leases.map((l) => `${leaseHex(l.ID)}\n`).join("");
  }
}

// The header's fields inlined in the wrapper's JSON, each omitted when zero.
function inlineHeader(h: ResponseHeader | undefined): string[] {
  const parts: string[] = [];
  if (h?.clusterId) parts.push(`"cluster_id":${h.clusterId}`);
  if (h?.memberId) parts.push(`"member_id":${h.memberId}`);
  if (h?.revision) parts.push(`"revision":${h.revision}`);
  if (h?.raftTerm) parts.push(`"raft_term":${h.raftTerm}`);
  return parts;
}

function json(o: LeaseOutput): string {
  switch (o.kind) {
    case "grant":
      return `{${
        [
          ...inlineHeader(o.r.header),
          `"ID":${o.r.ID}`,
          `"TTL":${o.r.TTL}`,
          `"Error":${JSON.stringify(o.r.error)}`,
        ]
          .join(",")
      }}`;
    case "revoke":
      return goJson(o.r);
    case "keepAlive":
      return `{${[...inlineHeader(o.r.header), `"ID":${o.r.ID}`, `"TTL":${o.r.TTL}`].join(",")}}`;
    case "timeToLive": {
      const r = o.r;
      const keys = r.keys.length === 0
        ? "null"
        : `[${r.keys.map((k) => `"${Buffer.from(k).toString("base64")}"`).join(",")}]`;
      return `{${
        [
          ...inlineHeader(r.header),
          `"id":${r.ID}`,
          `"ttl":${r.TTL}`,
          `"granted-ttl":${r.grantedTTL}`,
          `"keys":${keys}`,
        ].join(",")
      }}`;
    }
    case "leases":
      return `{${
        [...inlineHeader(o.r.header), `"leases":[${o.r.leases.map((l) => `{"id":${l.ID}}`).join(",")}]`].join(
          ",",
        )
      }}`;
  }
}

function hdrLines(h: ResponseHeader | undefined): string {
  return `"ClusterID" : ${h?.clusterId ?? 0n}\n"MemberID" : ${h?.memberId ?? 0n}\n` +
    `"Revision" : ${h?.revision ?? 0n}\n"RaftTerm" : ${h?.raftTerm ?? 0n}\n`;
}

function fields(o: LeaseOutput): string {
  switch (o.kind) {
    case "grant":
    case "keepAlive":
      return hdrLines(o.r.header) + `"ID" : ${o.r.ID}\n"TTL" : ${o.r.TTL}\n`;
    case "revoke":
      return hdrLines(o.r.header);
    case "timeToLive":
      return hdrLines(o.r.header) +
        `"ID" : ${o.r.ID}\n"TTL" : ${o.r.TTL}\n"GrantedTTL" : ${o.r.grantedTTL}\n` +
        o.r.keys.map((k) => `"Key" : ${goQuote(k)}\n`).join("");
    case "leases":
      return hdrLines(o.r.header) + o.r.leases.map((l) => `"ID" : ${l.ID}\n`).join("");
  }
}

function protobuf(o: LeaseOutput): Uint8Array {
  const h = o.r.header;
  if (o.kind === "revoke") {
    // Go's %v of the wrapper: its header printed by gogoproto's compact text format.
    const text = [
      h?.clusterId ? `cluster_id:${h.clusterId}` : "",
      h?.memberId ? `member_id:${h.memberId}` : "",
      h?.revision ? `revision:${h.revision}` : "",
      h?.raftTerm ? `raft_term:${h.raftTerm}` : "",
    ].filter((s) => s !== "").map((s) => s + " ").join("");
    throw new CliError(
      ExitCode.BadFeature,
      `marshal unsupported for type clientv3.LeaseRevokeResponse ({${text}})`,
    );
  }
  return h === undefined ? new Uint8Array() : toBinary(ResponseHeaderSchema, h);
}
