/**
 * A bbolt file's entries for tests to compare: every entry of every bucket, nested ones
 * included, in the reader's order, as [path/key hex, value hex or "bucket"].
 */
import { BboltError, BboltReader } from "../../store/bbolt/reader.ts";

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
