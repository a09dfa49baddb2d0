/**
 * Txns nested inside txns, for the tests of how deep they may go and how they are checked.
 * Encoded by hand: the reflective encoder recurses too deep for the thousands of levels
 * a client may send.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { RequestOpSchema, TxnResponseSchema } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Client } from "../client/mod.ts";
import { MESSAGE_RECURSION_LIMIT } from "../server/txn_nesting.ts";

type Op = MessageInitShape<typeof RequestOpSchema>["request"];

/** A length-delimited field: `tag` (field number << 3 | 2), then the length as a varint. */
function field(tag: number, body: Uint8Array): Uint8Array {
  const head = [tag];
  for (let n = body.length;; n >>>= 7) {
    if (n < 0x80) {
      head.push(n);
      break;
    }
    head.push((n & 0x7f) | 0x80);
  }
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

const SUCCESS = (2 << 3) | 2; // TxnRequest.success
const REQUEST_TXN = (4 << 3) | 2; // RequestOp.request_txn

/** A TxnRequest of `depth` txns, each the only success op of the one around it; the innermost runs `op`. */
export function nestedTxn(depth: number, op: Op): Uint8Array {
  let txn = field(SUCCESS, toBinary(RequestOpSchema, create(RequestOpSchema, { request: op })));
  for (let i = 1; i < depth; i++) txn = field(SUCCESS, field(REQUEST_TXN, txn));
  return txn;
}

/** A put of `key` as the innermost op. */
export function putOp(key: string): Op {
  const enc = new TextEncoder();
  return { case: "requestPut", value: { key: enc.encode(key), value: enc.encode("deep") } };
}

/** A Txn call whose response may nest as deep as the request (typed calls decode only 49 levels). */
export async function callTxn(client: Client, txn: Uint8Array) {
  const reply = await client.unaryBytes("/etcdserverpb.KV/Txn", txn);
  return fromBinary(TxnResponseSchema, reply, { recursionLimit: MESSAGE_RECURSION_LIMIT });
}
