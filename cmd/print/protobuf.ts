/**
 * `-w protobuf`: the response message's wire bytes, as etcdctl prints gogoproto's Marshal().
 */
import type { Message } from "@bufbuild/protobuf";
import { toBinary } from "@bufbuild/protobuf";
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
import type { Printer, PrintTarget } from "./printer.ts";

function wire(m: Message): Uint8Array {
  return toBinary(messageDesc(m.$typeName), m);
}

export class ProtobufPrinter implements Printer {
  readonly format = "protobuf";

  put(out: PrintTarget, r: PutResponse): void {
    out.stdout.write(wire(r));
  }
  get(out: PrintTarget, r: RangeResponse): void {
    out.stdout.write(wire(r));
  }
  del(out: PrintTarget, r: DeleteRangeResponse): void {
    out.stdout.write(wire(r));
  }
  txn(out: PrintTarget, r: TxnResponse): void {
    out.stdout.write(wire(r));
  }
  memberAdd(out: PrintTarget, r: MemberAddResponse): void {
    out.stdout.write(wire(r));
  }
  memberRemove(out: PrintTarget, _id: bigint, r: MemberRemoveResponse): void {
    out.stdout.write(wire(r));
  }
  memberUpdate(out: PrintTarget, _id: bigint, r: MemberUpdateResponse): void {
    out.stdout.write(wire(r));
  }
  moveLeader(out: PrintTarget, _leader: bigint, _target: bigint, r: MoveLeaderResponse): void {
    out.stdout.write(wire(r));
  }
  memberList(out: PrintTarget, r: MemberListResponse): void {
    out.stdout.write(wire(r));
  }
}
