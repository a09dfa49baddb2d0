/**
 * A bbolt file as tests compare two of them: its entries (every entry of every bucket,
 * nested ones included, in the reader's order, as [path/key hex, value hex or "bucket"]),
 * and the status etcd computes of an etcd backend, but for its size.
 */
import { BboltError, BboltReader } from "../../store/bbolt/reader.ts";
import { etcdBackendStatus } from "../../store/etcd_status.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The entries of the bbolt file at `file`, or the reader's error. */
export function dumpBbolt(file: string): [string, string][] | BboltError {
  const r = BboltReader.open(file);
  if (r instanceof BboltError) return r;
  try {
    const out: [string, string][] = [];
    const err = r.walk(r.root(), (p, e) => {
      out.push([[...p, e.key].map(hex).join("/"), e.bucket ? "bucket" : hex(e.value)]);
    });
    return err ?? out;
  } finally {
    r.close();
  }
}

/** `snapshot status` of the etcd backend at `file`, its size left out (two writers' layouts differ). */
export function backendStatusBesidesSize(file: string): object {
  const r = BboltReader.open(file);
  if (r instanceof BboltError) throw r;
  try {
    return { ...etcdBackendStatus(r), totalSize: 0 };
  } finally {
    r.close();
  }
}
