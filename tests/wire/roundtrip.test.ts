/**
 * One suite over every hand-written codec in registry.ts, against protobuf-es: our bytes
 * decode with protobuf-es to the same message (and equal its bytes where the format is
 * canonical proto3), protobuf-es's bytes decode with ours to the same message, unknown
 * fields are skipped or left to protobuf-es, and malformed bytes are never read as a value.
 */
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ROOT } from "../harness.ts";
import { CODEC_MODULES, HAND_CODECS } from "./registry.ts";

/** Every field by its schema, read through the message (so proto2 defaults count as set). */
// deno-lint-ignore no-explicit-any
function plain(desc: DescMessage, m: any): unknown {
  if (m === undefined || m === null) return undefined;
  const out: Record<string, unknown> = {};
  for (const f of desc.fields) {
    const v = m[f.localName];
    if (f.fieldKind === "message") out[f.localName] = plain(f.message, v);
    else if (f.fieldKind === "list" && f.listKind === "message") {
      out[f.localName] = (v as unknown[]).map((x) => plain(f.message, x));
    } else out[f.localName] = v instanceof Uint8Array ? [...v] : v;
  }
  return out;
}

// Field 99 varint, 98 fixed64, 97 length-delimited, 96 fixed32: none of the schemas has them.
const UNKNOWN = [
  [0x98, 0x06, 0x01],
  [0x91, 0x06, 1, 2, 3, 4, 5, 6, 7, 8],
  [0x8a, 0x06, 0x02, 0x61, 0x62],
  [0x85, 0x06, 1, 2, 3, 4],
].map((u) => new Uint8Array(u));

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

for (const c of HAND_CODECS) {
  describe(c.name, () => {
    const messages = [...(c.noEmpty ? [] : [create(c.schema)]), ...c.samples.map((s) => create(c.schema, s))];

    if (c.encode !== undefined) {
      const encode = c.encode;
      test("our bytes decode with protobuf-es to the same message", () => {
        let ours = 0;
        for (const m of messages) {
          const bytes = encode(m);
          if (bytes === null) continue;
          ours++;
          expect(plain(c.schema, fromBinary(c.schema, bytes))).toEqual(plain(c.schema, m));
          if (c.canonical) expect([...bytes]).toEqual([...toBinary(c.schema, m)]);
        }
        expect(ours).toBeGreaterThan(0);
      });
    }

    if (c.decode !== undefined) {
      const decode = c.decode;
      test("protobuf-es's bytes decode with ours to the same message", () => {
        let ours = 0;
        for (const m of messages) {
          const d = decode(toBinary(c.schema, m));
          if (d === null) continue;
          ours++;
          expect(plain(c.schema, d)).toEqual(plain(c.schema, m));
          if (c.canonical) expect(d.$typeName).toBe(c.schema.typeName);
        }
        expect(ours).toBeGreaterThan(0);
      });

      test("unknown fields of every wire type are skipped or left to protobuf-es", () => {
        for (const m of messages) {
          for (const u of UNKNOWN) {
            const d = decode(concat(toBinary(c.schema, m), u));
            if (d !== null) expect(plain(c.schema, d)).toEqual(plain(c.schema, m));
          }
        }
      });

      test("malformed bytes throw or are left to protobuf-es", () => {
        for (const m of messages) {
          const bytes = toBinary(c.schema, m);
          for (
            const bad of [bytes.subarray(0, bytes.length - 1), concat(bytes, new Uint8Array([0x0a, 0x05]))]
          ) {
            let theirs = true;
            try {
              fromBinary(c.schema, bad);
            } catch {
              theirs = false;
            }
            if (theirs) continue;
            let d: unknown = null;
            try {
              d = decode(bad);
            } catch {
              d = null;
            }
            expect(d).toBeNull();
          }
        }
      });
    }
  });
}

test("every module that uses wire/'s reader or writer is in the registry", () => {
  const users: string[] = [];
  for (const dir of ["api", "client", "cmd", "lib", "raft", "server", "store", "wal", "wire"]) {
    const abs = path.join(ROOT, dir);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs, { recursive: true }) as string[]) {
      if (!f.endsWith(".ts")) continue;
      const rel = path.join(dir, f);
      if (rel === "wire/writer.ts" || rel === "wire/reader.ts") continue;
      const src = fs.readFileSync(path.join(ROOT, rel), "utf8");
      const local = rel.startsWith("wire/")
        ? /from "\.\/(writer|reader)\.ts"/
        : /\/wire\/(writer|reader)\.ts"/;
      if (local.test(src)) users.push(rel);
    }
  }
  expect(users.sort()).toEqual([...CODEC_MODULES].sort());
});
