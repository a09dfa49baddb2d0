/**
 * `watch` output of our CLI against the real etcdctl 3.4's, byte for byte, on the same
 * server (so headers match), for our server and the real etcd. A watch never ends by
 * itself: each run waits for a marker event in its output (bounded), then is stopped.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Subprocess } from "bun";
import {
  cleanEnv,
  cleanup,
  etcdctl,
  ETCDCTL_BIN,
  etcdts,
  ETCDTS_BIN,
  haveRealEtcd,
  run,
  type ServerProcess,
  startServer,
  waitFor,
} from "../harness.ts";

setDefaultTimeout(60_000);

const servers: ("etcdts" | "etcd")[] = haveRealEtcd() ? ["etcdts", "etcd"] : [];

/** A running CLI with its output so far and a stdin to write lines to. */
interface Running {
  out(): Uint8Array;
  err(): string;
  write(s: string): void;
  endInput(): void;
  readonly exited: Promise<number>;
  stop(): Promise<number>;
}

function spawnCli(
  cli: "ours" | "etcdctl",
  endpoint: string,
  args: string[],
  env: Record<string, string> = {},
): Running {
  const cmd = cli === "ours" ? [ETCDTS_BIN, "watch"] : [ETCDCTL_BIN, "watch"];
  const proc: Subprocess<"pipe", "pipe", "pipe"> = Bun.spawn([...cmd, `--endpoints=${endpoint}`, ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...cleanEnv(), ETCDCTL_API: "3", ...env },
  });
  const out: Uint8Array[] = [];
  let err = "";
  (async () => {
    for await (const c of proc.stdout) out.push(c);
  })();
  (async () => {
    for await (const c of proc.stderr) err += new TextDecoder().decode(c);
  })();
  return {
    out: () => Buffer.concat(out),
    err: () => err,
    write: (s) => {
      proc.stdin.write(s);
      proc.stdin.flush();
    },
    endInput: () => proc.stdin.end(),
    exited: proc.exited,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGKILL");
      return await proc.exited;
    },
  };
}

/** Runs both CLIs with the same args until `done` holds for each output, and returns both. */
async function both(
  endpoint: string,
  args: string[],
  opts: { done: (out: Buffer, err: string) => boolean; env?: Record<string, string> },
): Promise<{ ours: [Buffer, string]; theirs: [Buffer, string] }> {
  const runs = {
    ours: spawnCli("ours", endpoint, args, opts.env),
    theirs: spawnCli("etcdctl", endpoint, args, opts.env),
  };
  const res: Record<string, [Buffer, string]> = {};
  for (const [name, r] of Object.entries(runs)) {
    await waitFor(`${name} watch output`, () => opts.done(Buffer.from(r.out()), r.err()));
    await r.stop();
    res[name] = [Buffer.from(r.out()), r.err()];
  }
  return { ours: res.ours, theirs: res.theirs };
}

for (const kind of servers) {
  describe(`watch CLI output: etcdts vs etcdctl on ${kind}`, () => {
    let server: ServerProcess;
    let first: bigint;
    const put = async (k: string, v: string) => {
      const r = await etcdctl(server.endpoint, ["put", k, v, "-w", "json"]);
      return BigInt(/"revision":(\d+)/.exec(r.stdout)![1]);
    };

    beforeAll(async () => {
      server = await startServer(kind);
      first = await put("w/a", "1");
      await put("w/b", "two words");
      await put("w/a", '3\n"quoted"');
      await etcdctl(server.endpoint, ["del", "w/b"]);
      await etcdctl(server.endpoint, ["txn"], { stdin: "\n\nput w/c 4\nput w/d 5\n\n" });
      await put("w/zz-done", "end");
    });
    afterAll(cleanup);

    const marker: Record<string, (o: Buffer) => boolean> = {
      simple: (o) => o.includes("w/zz-done"),
      json: (o) => o.includes(Buffer.from("w/zz-done").toString("base64")),
      fields: (o) => o.includes('"Key" : "w/zz-done"'),
      protobuf: (o) => o.includes("w/zz-done"),
    };

    for (const format of ["simple", "json", "fields", "protobuf"]) {
      for (const extra of [[], ["--prev-kv"]]) {
        test(`history with -w ${format} ${extra.join(" ")}`, async () => {
          const { ours, theirs } = await both(
            server.endpoint,
            ["--prefix", "w/", "--rev", String(first), "-w", format, ...extra],
            { done: marker[format] },
          );
          expect(ours[0].toString("latin1")).toBe(theirs[0].toString("latin1"));
          expect(ours[1]).toBe(theirs[1]);
        });
      }
    }

    test("--hex", async () => {
      const { ours, theirs } = await both(server.endpoint, [
        "--hex",
        "--prefix",
        "w/",
        "--rev",
        String(first),
      ], {
        done: (o) => o.includes(Buffer.from("w/zz-done").toString("hex").replace(/(..)/g, "\\x$1")),
      });
      expect(ours[0].toString()).toBe(theirs[0].toString());
    });

    test("range_end argument and live events", async () => {
      const now = BigInt(
        /"revision":(\d+)/.exec((await etcdctl(server.endpoint, ["get", "x", "-w", "json"])).stdout)![1],
      );
      const args = ["l/a", "l/z", "--rev", String(now + 1n)];
      const runs = [spawnCli("ours", server.endpoint, args), spawnCli("etcdctl", server.endpoint, args)];
      await put("l/b", "1");
      await put("l/zz", "outside");
      await put("l/c", "2");
      for (const r of runs) await waitFor("live events", () => Buffer.from(r.out()).includes("l/c\n2\n"));
      for (const r of runs) await r.stop();
      expect(runs[0].out().toString()).toBe("PUT\nl/b\n1\nPUT\nl/c\n2\n");
      expect(runs[1].out().toString()).toBe(runs[0].out().toString());
    });

    test("exec mode passes the event in ETCD_WATCH_* variables", async () => {
      const script =
        'printf "%s|%s|%s|%s\\n" "$ETCD_WATCH_REVISION" "$ETCD_WATCH_KEY" "$ETCD_WATCH_EVENT_TYPE" "$ETCD_WATCH_VALUE"';
      const { ours, theirs } = await both(
        server.endpoint,
        ["--prefix", "w/", "--rev", String(first), "--", "sh", "-c", script],
        { done: (o) => o.includes('"w/zz-done"|"PUT"|"end"') },
      );
      expect(ours[0].toString()).toBe(theirs[0].toString());
      expect(ours[0].toString()).toContain('"w/a"|"PUT"|"3\\n\\"quoted\\""');
    });

    test("exec mode: a failing command ends the watch like etcdctl", async () => {
      const args = ["w/a", "--rev", String(first), "--", "false"];
      const [o, t] = await Promise.all([
        etcdts(server.endpoint, ["watch", ...args]),
        etcdctl(server.endpoint, ["watch", ...args]),
      ]);
      expect(o.code).toBe(t.code);
      expect(o.stderr).toBe(t.stderr);
      expect(o.stdout).toBe(t.stdout);
    });

    test("interactive: watch lines, progress, and invalid lines", async () => {
      const runs = [spawnCli("ours", server.endpoint, ["-i"]), spawnCli("etcdctl", server.endpoint, ["-i"])];
      for (const r of runs) {
        r.write(`watch --prefix w/ --rev ${first}\n`);
        await waitFor("history", () => Buffer.from(r.out()).includes("w/zz-done"));
        r.write("progress\n");
        await waitFor("progress", () => Buffer.from(r.out()).includes("progress notify"));
        r.write("bogus\nwatch\nwatch a --prefix b\n\n");
        await waitFor("complaints", () => r.err().includes("Invalid command: "));
        r.endInput();
        expect(await waitExit(r)).toBe(3);
      }
      expect(runs[0].out().toString()).toBe(runs[1].out().toString());
      expect(runs[0].err()).toBe(runs[1].err());
    });

    test("argument errors and refused watches", async () => {
      const cases: { args: string[]; env?: Record<string, string> }[] = [
        { args: [] },
        { args: ["a", "--prefix", "b"] },
        { args: ["a", "--"] },
        { args: ["b", "a"] },
        { args: ["b", "a", "-w", "json"] },
        { args: ["k"], env: { ETCDCTL_WATCH_RANGE_END: "z" } },
        { args: ["k"], env: { ETCDCTL_WATCH_KEY: "a" } },
        { args: ["-w", "table", "w/a", "--rev", "1"] },
      ];
      for (const c of cases) {
        const env = { ETCDCTL_API: "3", ...c.env };
        const o = await runWithEnv(ETCDTS_BIN, server.endpoint, c.args, env);
        const t = await runWithEnv(ETCDCTL_BIN, server.endpoint, c.args, env);
        expect([c.args, o.code, o.stdout, o.stderr]).toEqual([c.args, t.code, t.stdout, t.stderr]);
      }
    });

    test("a compacted start revision", async () => {
      const r = await put("cz/k", "v");
      await etcdctl(server.endpoint, ["compact", String(r)]);
      for (const format of ["simple", "json"]) {
        const args = ["cz/k", "--rev", String(first), "-w", format];
        const o = await runWithEnv(ETCDTS_BIN, server.endpoint, args, { ETCDCTL_API: "3" });
        const t = await runWithEnv(ETCDCTL_BIN, server.endpoint, args, { ETCDCTL_API: "3" });
        expect([o.code, o.stdout, o.stderr]).toEqual([t.code, t.stdout, t.stderr]);
        expect(o.code).toBe(5);
      }
    });
  });
}

async function waitExit(r: Running): Promise<number> {
  let code: number | undefined;
  r.exited.then((c) => (code = c));
  await waitFor("exit", () => code !== undefined);
  return code!;
}

function runWithEnv(bin: string, endpoint: string, args: string[], env: Record<string, string>) {
  return run([bin, `--endpoints=${endpoint}`, "watch", ...args], { env });
}
