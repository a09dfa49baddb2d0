/**
 * What every output format implements (etcdctl's printer interface). A format leaves out
 * what it cannot show; `show` then fails with etcdctl's "<format> not supported as output
 * format". Later commands (watch, lease, auth, ...) add methods here and in each format.
 */
import type {
  DeleteRangeResponse,
  HashKVResponse,
  MemberAddResponse,
  MemberListResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  MoveLeaderResponse,
  PutResponse,
  RangeResponse,
  StatusResponse,
  TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { CliError, ExitCode } from "../errors.ts";
import type { Sink } from "../io.ts";

/** Where a printer writes: etcdctl prints a few things (endpoint health) to stderr. */
export interface PrintTarget {
  stdout: Sink;
  stderr: Sink;
}

/** etcdctl's epHealth. */
export interface EndpointHealth {
  ep: string;
  health: boolean;
  took: string;
  error: string;
}

/** etcdctl's epStatus / epHashKV. */
export interface EndpointStatus {
  ep: string;
  resp: StatusResponse;
}
export interface EndpointHashKV {
  ep: string;
  resp: HashKVResponse;
}

/** One output format. Methods write the whole rendering of one response. */
export interface Printer {
  readonly format: string;
  put?(out: PrintTarget, r: PutResponse): void;
  get?(out: PrintTarget, r: RangeResponse, opts: { valueOnly: boolean }): void;
  del?(out: PrintTarget, r: DeleteRangeResponse): void;
  txn?(out: PrintTarget, r: TxnResponse): void;
  memberList?(out: PrintTarget, r: MemberListResponse): void;
  memberAdd?(out: PrintTarget, r: MemberAddResponse): void;
  memberRemove?(out: PrintTarget, id: bigint, r: MemberRemoveResponse): void;
  memberUpdate?(out: PrintTarget, id: bigint, r: MemberUpdateResponse): void;
  memberPromote?(out: PrintTarget, id: bigint, r: MemberPromoteResponse): void;
  moveLeader?(out: PrintTarget, leader: bigint, target: bigint, r: MoveLeaderResponse): void;
  endpointHealth?(out: PrintTarget, list: EndpointHealth[]): void;
  endpointStatus?(out: PrintTarget, list: EndpointStatus[]): void;
  endpointHashKV?(out: PrintTarget, list: EndpointHashKV[]): void;
}

type Method = Exclude<keyof Printer, "format">;

/** Calls a printer method, or fails as etcdctl does for a format that lacks it. */
export function show<M extends Method>(
  p: Printer,
  method: M,
  ...args: Parameters<NonNullable<Printer[M]>>
): void {
  const fn = p[method] as ((...a: unknown[]) => void) | undefined;
  if (!fn) throw new CliError(ExitCode.BadFeature, `${p.format} not supported as output format`);
  fn.apply(p, args);
}

/** Accumulates output and writes it in one call (a get of many keys is one write). */
export class Chunks {
  readonly #parts: (string | Uint8Array)[] = [];

  text(s: string): this {
    this.#parts.push(s);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#parts.push(b);
    return this;
  }

  writeTo(sink: Sink): void {
    if (this.#parts.length === 0) return;
    if (this.#parts.every((p) => typeof p === "string")) sink.write(this.#parts.join(""));
    else sink.write(Buffer.concat(this.#parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p))));
  }
}

/** etcdctl's member list rows (makeMemberListTable). */
export function memberListRows(r: MemberListResponse): { hdr: string[]; rows: string[][] } {
  const hdr = ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"];
  const rows = r.members.map((m) => [
    m.ID.toString(16),
    m.name.length === 0 ? "unstarted" : "started",
    m.name,
    m.peerURLs.join(","),
    m.clientURLs.join(","),
    String(m.isLearner),
  ]);
  return { hdr, rows };
}

/** etcdctl's endpoint health rows. */
export function endpointHealthRows(list: EndpointHealth[]): { hdr: string[]; rows: string[][] } {
  return {
    hdr: ["endpoint", "health", "took", "error"],
    rows: list.map((h) => [h.ep, String(h.health), h.took, h.error]),
  };
}

/** etcdctl's endpoint status rows. */
export function endpointStatusRows(list: EndpointStatus[]): { hdr: string[]; rows: string[][] } {
  const hdr = [
    "endpoint",
    "ID",
    "version",
    "db size",
    "is leader",
    "is learner",
    "raft term",
    "raft index",
    "raft applied index",
    "errors",
  ];
  const rows = list.map(({ ep, resp }) => [
    ep,
    (resp.header?.memberId ?? 0n).toString(16),
    resp.version,
    humanizeBytes(resp.dbSize),
    String(resp.leader === (resp.header?.memberId ?? 0n)),
    String(resp.isLearner),
    String(resp.raftTerm),
    String(resp.raftIndex),
    String(resp.raftAppliedIndex),
    resp.errors.join(", "),
  ]);
  return { hdr, rows };
}

/** etcdctl's endpoint hashkv rows. */
export function endpointHashKVRows(list: EndpointHashKV[]): { hdr: string[]; rows: string[][] } {
  return { hdr: ["endpoint", "hash"], rows: list.map(({ ep, resp }) => [ep, String(resp.hash)]) };
}

/** go-humanize's Bytes (SI units): 28672 → "29 kB". */
export function humanizeBytes(n: bigint | number): string {
  const v = Number(n);
  if (v < 10) return `${v} B`;
  const sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const e = Math.floor(Math.log(v) / Math.log(1000));
  const val = Math.floor((v / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : goFixed0(val)} ${sizes[e]}`;
}

/**
 * Go's `%.0f`: to the nearest integer, a tie to the even one (20480 bytes are 20.5 kB,
 * "20 kB" in etcdctl); JS's toFixed(0) breaks ties upward ("21"). `%.1f` of a value with
 * one decimal, as above, is never a tie, so toFixed(1) already agrees.
 */
function goFixed0(x: number): string {
  const floor = Math.floor(x);
  const rest = x - floor;
  return String(rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor);
}
