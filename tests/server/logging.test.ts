/**
 * --logger, --log-outputs and --log-output on real processes, the same test against etcdts
 * and etcd 3.4: zap JSON lines to a file, capnslog's text lines after its deprecation
 * warning, and etcd's refusals of combinations it does not support.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  ETCD_BIN,
  ETCDTS_BIN,
  run,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

function serverCmd(kind: "etcdts" | "etcd", args: string[]): string[] {
  return kind === "etcdts" ? [ETCDTS_BIN, "serve", ...args] : [ETCD_BIN, ...args];
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind}: logging flags`, () => {
    test("--logger=zap --log-outputs=FILE writes JSON lines to the file", async () => {
      const file = path.join(tempDir(), "etcd.log");
      const server = await startServer(kind, { extraArgs: ["--logger=zap", `--log-outputs=${file}`] });
      const ready = "serving client traffic insecurely; this is strongly discouraged!";
      await waitFor("the serving line in the file", () => fs.readFileSync(file, "utf8").includes(ready));
      const lines = fs.readFileSync(file, "utf8").trim().split("\n");
      for (const l of lines) expect(typeof JSON.parse(l).msg).toBe("string");
      expect(lines.some((l) => JSON.parse(l).msg === ready)).toBe(true);
      expect(server.stderr()).not.toContain(ready);
    }, 20_000);

    test("--logger=capnslog: etcd's deprecation warning, then capnslog's text lines", async () => {
      const server = await startServer(kind, { extraArgs: ["--logger=capnslog"] });
      const err = server.stderr();
      expect(err.split("\n")[0]).toBe(
        "[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead",
      );
      // etcd 3.4 prints the warning twice (flag parsing and logger setup).
      const rest = err.split("\n").filter((l) => l !== "" && !l.startsWith("[WARNING]"));
      expect(rest.length).toBeGreaterThan(0);
      // etcd's raft and gRPC packages write lines of their own beside capnslog's; none is JSON.
      const capnslog = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} [DIWEC] \| \S+: /;
      expect(rest.some((l) => capnslog.test(l))).toBe(true);
      expect(rest.some((l) => l.startsWith("{"))).toBe(false);
    });

    test("--debug and --log-package-levels: etcd 3.4's deprecation warnings", async () => {
      const server = await startServer(kind, {
        extraArgs: ["--logger=zap", "--debug", "--log-package-levels=etcdmain=INFO"],
      });
      const warnings = server.stderr().split("\n").filter((l) => l.startsWith("[WARNING]"));
      expect(warnings.slice(0, 3)).toEqual([
        "[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead",
        "[WARNING] Deprecated '--debug' flag is set to true with inconsistent '--log-level=info' flag",
        "[WARNING] Deprecated '--log-package-levels=etcdmain=INFO' flag is set; use '--logger=zap' flag instead",
      ]);
    });

    for (
      const [args, message] of [
        [["--logger=foo"], `unknown logger option "foo"`],
        [
          ["--logger=zap", "--log-outputs=default,stderr"],
          `multi logoutput for "default" is not supported yet`,
        ],
        [
          ["--logger=capnslog", "--log-outputs=stderr,stdout"],
          `--logger=capnslog supports only 1 value in '--log-outputs', got ["stderr" "stdout"]`,
        ],
        [
          ["--logger=capnslog", "--log-outputs=/tmp/x.log"],
          `unknown log-output "/tmp/x.log" (only supports "default", "stderr", "stdout")`,
        ],
      ] as const
    ) {
      test(`${args.join(" ")} is refused`, async () => {
        const dir = tempDir();
        const r = await run(serverCmd(kind, [`--data-dir=${dir}/d`, ...args]), { timeoutMs: 10_000 });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(message);
      });
    }
  });
}
