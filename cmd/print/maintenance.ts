/**
 * Output of `alarm list|disarm` and `snapshot status` in each format, as etcdctl's
 * printers render them (simple: gogo's compact text of each alarm; table and fields;
 * json; protobuf for alarms only).
 */
import { toBinary } from "@bufbuild/protobuf";
import { type AlarmResponse, AlarmResponseSchema, AlarmType } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { SnapshotStatus } from "../../store/snapshot_file.ts";
import { CliError, ExitCode } from "../errors.ts";
import { hdrLines } from "./fields.ts";
import { goJson } from "./json.ts";
import { humanizeBytes, type PrintTarget } from "./printer.ts";
import { renderTable } from "./table.ts";

function unsupported(format: string): never {
  throw new CliError(ExitCode.BadFeature, `${format} not supported as output format`);
}

/** etcdctl's display.Alarm. */
export function printAlarms(format: string, out: PrintTarget, r: AlarmResponse): void {
  switch (format) {
    case "simple":
      out.stdout.write(r.alarms.map((a) => `memberID:${a.memberID} alarm:${AlarmType[a.alarm]} \n`).join(""));
      return;
    case "json":
      out.stdout.write(goJson(r) + "\n");
      return;
    case "fields":
      out.stdout.write(
        hdrLines(r.header) +
          r.alarms.map((a) => `"MemberID" : ${a.memberID}\n"AlarmType" : ${AlarmType[a.alarm]}\n\n`).join(""),
      );
      return;
    case "protobuf":
      out.stdout.write(toBinary(AlarmResponseSchema, r));
      return;
  }
  unsupported(format);
}

/** etcdctl's display.DBStatus. */
export function printDbStatus(format: string, out: PrintTarget, s: SnapshotStatus): void {
  const row = [s.hash.toString(16), String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)];
  switch (format) {
    case "simple":
      out.stdout.write(row.join(", ") + "\n");
      return;
    case "table":
      out.stdout.write(renderTable(["hash", "revision", "total keys", "total size"], [row]));
      return;
    case "json":
      out.stdout.write(
        `{"hash":${s.hash},"revision":${s.revision},"totalKey":${s.totalKey},"totalSize":${s.totalSize}}\n`,
      );
      return;
    case "fields":
      out.stdout.write(
        `"Hash" : ${s.hash}\n"Revision" : ${s.revision}\n"Keys" : ${s.totalKey}\n"Size" : ${s.totalSize}\n`,
      );
      return;
  }
  unsupported(format);
}
