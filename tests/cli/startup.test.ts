/**
 * What a CLI call loads before it does anything: the static import graph (dynamic
 * `import()` and type-only imports excluded) must stay free of the heavy modules that cost
 * startup time in the compiled binary, and the CLI and the server must not import each
 * other (shared helpers live in lib/ and api/). bench/cli-startup.ts measures the time.
 */
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "../harness.ts";

const transpiler = new Bun.Transpiler({ loader: "ts" });

// Modules (relative to ROOT) or packages statically reachable from `entries`.
function staticClosure(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    const rel = path.relative(ROOT, file);
    if (seen.has(rel)) return;
    seen.add(rel);
    if (!file.endsWith(".ts")) return;
    for (const imp of transpiler.scanImports(fs.readFileSync(file, "utf8"))) {
      if (imp.kind !== "import-statement") continue;
      if (imp.path.startsWith(".")) visit(path.resolve(path.dirname(file), imp.path));
      else seen.add(imp.path);
    }
  };
  for (const e of entries) visit(path.join(ROOT, e));
  return seen;
}

// Each costs milliseconds to load in the compiled binary (measured: protobuf runtime and
// descriptors ~20 ms of CPU, node:http2 ~6 ms with its session set-up) or belongs to the
// server. The protobuf wire codec alone (@bufbuild/protobuf/wire) measured ~0.1 ms.
const heavy = [
  /^@bufbuild\/protobuf(?!\/wire$)/,
  /^proto\/gen\//,
  /^(node:)?http2$/,
  /^(node:)?(net|stream|http|tls)$/,
  /^hono/,
  /^bun:sqlite$/,
  /^(server|store|raft|wal)\//,
];

function heavyIn(closure: Set<string>): string[] {
  return [...closure].filter((m) => heavy.some((re) => re.test(m)));
}

describe("CLI startup", () => {
  test("the command tree (every command's flags and help) loads nothing heavy", () => {
    expect(heavyIn(staticClosure(["main.ts", "cmd/main.ts", "cmd/root.ts"]))).toEqual([]);
  });

  test("put/get/del load nothing heavy: wire/ codecs, simple printer, one-shot HTTP/2", () => {
    const putPath = [
      "cmd/kv.ts",
      "wire/etcd.ts",
      "cmd/rpc.ts",
      "cmd/global.ts",
      "cmd/print/simple.ts",
      "client/client.ts",
      "client/h2_once.ts",
    ];
    expect(heavyIn(staticClosure(putPath))).toEqual([]);
  });

  test("the CLI and the server do not import each other", () => {
    const cli = staticClosure(["cmd/main.ts", "cmd/root.ts"]);
    expect([...cli].filter((m) => /^server\//.test(m))).toEqual([]);
    const offenders: string[] = [];
    for (const dir of ["server", "store", "raft", "wal"]) {
      for (const f of fs.readdirSync(path.join(ROOT, dir), { recursive: true }) as string[]) {
        if (!f.endsWith(".ts")) continue;
        const src = fs.readFileSync(path.join(ROOT, dir, f), "utf8");
        for (const imp of transpiler.scanImports(src)) {
          if (/(^|\/)cmd\//.test(imp.path)) offenders.push(`${dir}/${f} -> ${imp.path}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
