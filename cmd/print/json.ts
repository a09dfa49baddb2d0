/**
 * `-w json`: Go's encoding/json of etcd's gogoproto structs, which differs from proto3 JSON:
 * snake_case proto names, omitempty on every field, 64-bit integers as bare numbers (exact:
 * we keep bigints), bytes as base64, enums as numbers, oneofs as {"GoName":{"GoField":…}}.
 */
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { isMessage } from "@bufbuild/protobuf";
import { messageDesc } from "./registry.ts";
import type {
  DeleteRangeResponse,
  MemberAddResponse,
  MemberListResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  MoveLeaderResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { EndpointHashKV, EndpointHealth, EndpointStatus, Printer, PrintTarget } from "./printer.ts";

/** Go's JSON for a protobuf-es message of one of etcd's types. */
export function goJson(m: Message): string {
  return encodeMessage(messageDesc(m.$typeName), m as unknown as Record<string, unknown>);
}

function encodeMessage(desc: DescMessage, m: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      // The Go struct holds an interface named after the oneof; it has no omitempty.
      const v = m[member.localName] as { case?: string; value?: unknown };
      const field = member.fields.find((f) => f.localName === v.case);
      const inner = field ? `{${JSON.stringify(goName(field.name))}:${encodeValue(field, v.value)}}` : "null";
      parts.push(`${JSON.stringify(goName(member.name))}:${inner}`);
      continue;
    }
    const v = m[member.localName];
    if (isEmpty(v)) continue;
    parts.push(`${goString(member.name)}:${encodeValue(member, v)}`);
  }
  return `{${parts.join(",")}}`;
}

type Field = DescMessage["fields"][number];

function encodeValue(f: Field, v: unknown): string {
  if (f.fieldKind === "list") {
    return `[${(v as unknown[]).map((x) => encodeScalarOrMessage(f, x)).join(",")}]`;
  }
  return encodeScalarOrMessage(f, v);
}

function encodeScalarOrMessage(f: Field, v: unknown): string {
  if (isMessage(v)) return goJson(v as Message);
  if (f.message) return encodeMessage(f.message, v as Record<string, unknown>);
  if (v instanceof Uint8Array) return `"${Buffer.from(v).toString("base64")}"`;
  if (typeof v === "string") return goString(v);
  return String(v); // number, bigint, boolean, enum
}

// omitempty: false, 0, "", empty bytes/lists, and unset messages are left out.
function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === 0n || v === "") return true;
  if (v instanceof Uint8Array || Array.isArray(v)) return v.length === 0;
  return false;
}

// Go's exported field name for a proto name: response_put → ResponsePut.
function goName(protoName: string): string {
  return protoName.split("_").map((p) => (p ? p[0].toUpperCase() + p.slice(1) : "_")).join("");
}

/** Go's JSON string escaping: HTML-sensitive characters and U+2028/2029 escaped too. */
export function goString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export class JsonPrinter implements Printer {
  readonly format = "json";

  #print(out: PrintTarget, m: Message): void {
    out.stdout.write(goJson(m) + "\n");
  }

  put(out: PrintTarget, r: PutResponse): void {
    this.#print(out, r);
  }
  get(out: PrintTarget, r: RangeResponse): void {
    this.#print(out, r);
  }
  del(out: PrintTarget, r: DeleteRangeResponse): void {
    this.#print(out, r);
  }
  txn(out: PrintTarget, r: TxnResponse): void {
    this.#print(out, r);
  }
  memberAdd(out: PrintTarget, r: MemberAddResponse): void {
    this.#print(out, r);
  }
  memberRemove(out: PrintTarget, _id: bigint, r: MemberRemoveResponse): void {
    this.#print(out, r);
  }
  memberUpdate(out: PrintTarget, _id: bigint, r: MemberUpdateResponse): void {
    this.#print(out, r);
  }
  moveLeader(out: PrintTarget, _leader: bigint, _target: bigint, r: MoveLeaderResponse): void {
    this.#print(out, r);
  }
  memberList(out: PrintTarget, r: MemberListResponse): void {
    this.#print(out, r);
  }

  endpointHealth(out: PrintTarget, list: EndpointHealth[]): void {
    const items = list.map((h) =>
      `{"endpoint":${goString(h.ep)},"health":${h.health},"took":${goString(h.took)}${
        h.error ? `,"error":${goString(h.error)}` : ""
      }}`
    );
    out.stdout.write(`[${items.join(",")}]\n`);
  }

  endpointStatus(out: PrintTarget, list: EndpointStatus[]): void {
    const items = list.map((s) => `{"Endpoint":${goString(s.ep)},"Status":${goJson(s.resp)}}`);
    out.stdout.write(`[${items.join(",")}]\n`);
  }

  endpointHashKV(out: PrintTarget, list: EndpointHashKV[]): void {
    const items = list.map((s) => `{"Endpoint":${goString(s.ep)},"HashKV":${goJson(s.resp)}}`);
    out.stdout.write(`[${items.join(",")}]\n`);
  }
}
