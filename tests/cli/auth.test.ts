/**
 * The CLI and auth where clientv3's rules show: --user against a server with auth off
 * (a warning, then the command runs), a token gone stale mid-command (a warning, a new
 * token, the request again), and users with empty passwords. Every case runs etcdctl
 * against the real etcd as the reference, and our CLI and etcdctl against etcdts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cleanEnv,
  cleanup,
  CONFORMANCE_TARGETS,
  ETCDCTL_BIN,
  ETCDTS_BIN,
  run,
  type RunResult,
  type ServerProcess,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

type Kind = "etcdts" | "etcd";
/** Who runs a command against whom: the first pair is the reference. */
const PAIRS: { cli: string; server: Kind }[] = [
  ...(CONFORMANCE_TARGETS.includes("etcd") ? [{ cli: ETCDCTL_BIN, server: "etcd" as const }] : []),
  { cli: ETCDTS_BIN, server: "etcdts" },
  { cli: ETCDCTL_BIN, server: "etcdts" },
];
const name = (p: { cli: string; server: Kind }) =>
  `${p.cli === ETCDTS_BIN ? "etcdts" : "etcdctl"} → ${p.server}`;

function cli(bin: string, s: ServerProcess, args: readonly string[], stdin?: string): Promise<RunResult> {
  return run([bin, `--endpoints=${s.endpoint}`, ...args], { stdin, env: { ETCDCTL_API: "3" } });
}

/** clientv3's "retrying of unary invoker failed" line, its variable parts (time, client id, port) blanked. */
const WARN =
  /^\{"level":"warn","ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d{4})","caller":"clientv3\/retry_interceptor\.go:62","msg":"retrying of unary invoker failed","target":"endpoint:\/\/client-[0-9a-f-]{36}\/127\.0\.0\.1:\d+","attempt":(\d+),"error":"(.*)"\}$/;

/** What a script sees: stdout, the code, stderr's other lines, and each warning's attempt and error. */
function seen(r: RunResult) {
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  const warnings = lines.filter((l) => l.startsWith('{"level":"warn"'));
  return {
    stdout: r.stdout,
    code: r.code,
    stderr: lines.filter((l) => !warnings.includes(l)),
    warnings: warnings.map((l) => {
      const m = WARN.exec(l);
      return m ? `attempt ${m[1]}: ${m[2]}` : `not clientv3's shape: ${l}`;
    }),
  };
}

/** Each pair's own server, so each sees the same history. */
const servers: ServerProcess[] = [];
const server = async (i: number) => (servers[i] ??= await startServer(PAIRS[i].server));

describe("--user while auth is disabled: clientv3's warning, then the command", () => {
  const off =
    "attempt 0: rpc error: code = FailedPrecondition desc = etcdserver: authentication is not enabled";
  const cases: { args: string[]; stdin?: string; warnings: number }[] = [
    { args: ["put", "off/k", "v"], warnings: 1 },
    { args: ["get", "off/k"], warnings: 1 },
    { args: ["txn"], stdin: "\nput off/t 1\n\n\n", warnings: 1 },
    { args: ["del", "off/none"], warnings: 1 },
    { args: ["user", "list"], warnings: 1 },
    { args: ["role", "add", "off-role"], warnings: 1 },
    // a stream authenticates again when it opens, and warns again
    { args: ["lease", "keep-alive", "1234"], warnings: 2 },
    { args: ["get", "off/k", "--password=p", "-w", "json"], warnings: 1 },
  ];
  for (const c of cases) {
    test(c.args.join(" "), async () => {
      const results = [];
      for (const [i, p] of PAIRS.entries()) {
        const r = seen(await cli(p.cli, await server(i), ["--user=nobody:pw", ...c.args], c.stdin));
        results.push({ who: name(p), ...r, stdout: r.stdout.replace(/"(cluster_id|member_id)":\d+/g, "") });
      }
      expect(results[0].warnings).toEqual(Array(c.warnings).fill(off));
      expect(results[0].code).toBe(0);
      for (const r of results.slice(1)) expect({ ...r, who: results[0].who }).toEqual(results[0]);
    }, 30_000);
  }
});

/** Runs `args` with stdin kept open, so the test decides when the command reads on. */
function interactive(bin: string, s: ServerProcess, args: readonly string[]) {
  const proc = Bun.spawn([bin, `--endpoints=${s.endpoint}`, ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...cleanEnv(), ETCDCTL_API: "3" },
  });
  let stdout = "";
  const stdoutDone = (async () => {
    for await (const chunk of proc.stdout) stdout += new TextDecoder().decode(chunk);
  })();
  return {
    stdout: () => stdout,
    async finish(input: string): Promise<RunResult> {
      proc.stdin.write(input);
      proc.stdin.end();
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, stdoutDone]);
      return { stdout, stderr, code };
    },
  };
}

/**
 * --auth-token for JWTs signed by a fresh key. A JWT carries the auth revision it was
 * issued at (a simple token is checked at the current one), so a change to users or
 * roles after the login makes its next write fail with "revision of auth store is old".
 */
function jwtFlag(): string {
  const dir = tempDir("etcdts-jwt-");
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const priv = path.join(dir, "es256.key");
  const pub = path.join(dir, "es256.pub");
  fs.writeFileSync(priv, privateKey.export({ type: "sec1", format: "pem" }));
  fs.writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  return `jwt,pub-key=${pub},priv-key=${priv},sign-method=ES256`;
}

describe("a token gone stale mid-command: a new token and the request again", () => {
  const stale =
    "attempt 0: rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old";
  const setup = [
    ["user", "add", "root:rootpw"],
    ["user", "grant-role", "root", "root"],
    ["user", "add", "alice:apw"],
    ["role", "add", "rw"],
    ["role", "grant-permission", "rw", "readwrite", "stale/", "--prefix"],
    ["user", "grant-role", "alice", "rw"],
    ["auth", "enable"],
  ];
  const prompts = "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n";
  for (const [i, p] of PAIRS.entries()) {
    test(`${name(p)}: txn -i authenticated, then roles change, then the txn`, async () => {
      const s = await startServer(p.server, { extraArgs: ["--auth-token", jwtFlag()] });
      for (const args of setup) expect((await cli(ETCDCTL_BIN, s, args)).code).toBe(0);
      const txn = interactive(p.cli, s, ["--user=alice:apw", "txn", "-i"]);
      // "compares:" comes after the client authenticated (both CLIs dial first)
      await waitFor("the txn prompt", () => txn.stdout() === "compares:\n");
      expect((await cli(ETCDCTL_BIN, s, ["--user=root:rootpw", "role", "add", `extra${i}`])).code).toBe(0);
      const r = seen(await txn.finish("\nput stale/k v\n\n\n"));
      expect(r).toEqual({ stdout: `${prompts}SUCCESS\n\nOK\n`, code: 0, stderr: [], warnings: [stale] });
    }, 30_000);
  }
});

describe("empty passwords: etcd 3.4 makes such users (they log in by certificate)", () => {
  const steps: { args: string[]; stdin?: string }[] = [
    { args: ["user", "add", "example.com", "--interactive=false"], stdin: "\n" },
    { args: ["user", "add", "eof-user", "--interactive=false"] },
    { args: ["user", "add", "nopw", "--no-password"] },
    { args: ["user", "passwd", "example.com", "--interactive=false"], stdin: "\n" },
    { args: ["user", "get", "example.com"] },
    { args: ["user", "add", "root:rootpw"] },
    { args: ["user", "grant-role", "root", "root"] },
    { args: ["role", "add", "r"] },
    { args: ["role", "grant-permission", "r", "readwrite", "k"] },
    { args: ["user", "grant-role", "example.com", "r"] },
    { args: ["user", "grant-role", "nopw", "r"] },
    { args: ["auth", "enable"] },
    // clientv3 logs in only with a name and a password: an empty one means no login
    { args: ["--user=example.com:", "get", "k"] },
    { args: ["--user=nopw:x", "get", "k"] },
    { args: ["--user=root:rootpw", "user", "list"] },
  ];
  test("the same answers from etcd and etcdts, through etcdctl and our CLI", async () => {
    const results = await Promise.all(PAIRS.map(async (p) => {
      const s = await startServer(p.server);
      const out = [];
      for (const step of steps) {
        const { warnings: _, ...r } = seen(await cli(p.cli, s, step.args, step.stdin));
        out.push({ args: step.args.join(" "), ...r });
      }
      return out;
    }));
    expect(results[0].map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0]);
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  }, 60_000);

  for (const kind of CONFORMANCE_TARGETS) {
    test(`${kind}: no user, role or auth request ends in an internal error`, async () => {
      const { Client } = await import("../../client/client.ts");
      const { Auth } = await import("../../proto/gen/etcdserverpb/rpc_pb.ts");
      const s = await startServer(kind);
      const c = new Client({ endpoints: [s.endpoint], callTimeoutMs: 10_000 });
      const auth = c.service(Auth);
      const b = (x: string) => new TextEncoder().encode(x);
      const calls: [string, () => Promise<unknown>][] = [
        ["user add, empty password", () => auth.userAdd({ name: "e", password: "" })],
        ["user add, no name", () => auth.userAdd({ name: "", password: "x" })],
        ["user add, no password", () => auth.userAdd({ name: "n", options: { noPassword: true } })],
        ["user add, 100-byte password", () => auth.userAdd({ name: "long", password: "p".repeat(100) })],
        ["user add, odd name", () => auth.userAdd({ name: "\u0000/\ufffd", password: "x" })],
        ["passwd, empty", () => auth.userChangePassword({ name: "e", password: "" })],
        ["passwd, no such user", () => auth.userChangePassword({ name: "ghost", password: "" })],
        ["user get, no name", () => auth.userGet({ name: "" })],
        ["user delete, no name", () => auth.userDelete({ name: "" })],
        ["grant, no role", () => auth.userGrantRole({ user: "e", role: "" })],
        ["revoke, nothing", () => auth.userRevokeRole({ name: "", role: "" })],
        ["role add, no name", () => auth.roleAdd({ name: "" })],
        ["role add", () => auth.roleAdd({ name: "r" })],
        ["role get, no name", () => auth.roleGet({ role: "" })],
        ["role delete, no name", () => auth.roleDelete({ role: "" })],
        [
          "grant, unknown type",
          () => auth.roleGrantPermission({ name: "r", perm: { permType: 7 as 0, key: b("k") } }),
        ],
        ["grant, empty key", () => auth.roleGrantPermission({ name: "r", perm: { key: b("") } })],
        [
          "grant, backwards range",
          () => auth.roleGrantPermission({ name: "r", perm: { key: b("z"), rangeEnd: b("a") } }),
        ],
        ["revoke, empty key", () => auth.roleRevokePermission({ role: "r", key: b("") })],
        ["authenticate, auth off", () => auth.authenticate({ name: "", password: "" })],
        ["enable, no root", () => auth.authEnable({})],
        ["root, empty password", () => auth.userAdd({ name: "root", password: "" })],
        ["grant root", () => auth.userGrantRole({ user: "root", role: "root" })],
        ["enable", () => auth.authEnable({})],
        ["log in, empty password", () => auth.authenticate({ name: "e", password: "" })],
        ["log in, no-password user", () => auth.authenticate({ name: "n", password: "" })],
        ["log in, first 72 bytes", () => auth.authenticate({ name: "long", password: "p".repeat(72) })],
        ["log in, no name", () => auth.authenticate({ name: "", password: "" })],
      ];
      const answers: string[] = [];
      for (const [what, call] of calls) {
        answers.push(`${what}: ${await call().then(() => "ok", (e: Error) => e.message)}`);
      }
      c.close();
      expect(answers.filter((a) => a.includes("internal error"))).toEqual([]);
      expect(answers).toEqual([
        "user add, empty password: ok",
        "user add, no name: etcdserver: user name is empty",
        "user add, no password: ok",
        "user add, 100-byte password: ok",
        "user add, odd name: ok",
        "passwd, empty: ok",
        "passwd, no such user: etcdserver: user name not found",
        "user get, no name: etcdserver: user name not found",
        "user delete, no name: etcdserver: user name not found",
        "grant, no role: etcdserver: role name not found",
        "revoke, nothing: etcdserver: user name not found",
        "role add, no name: etcdserver: role name is empty",
        "role add: ok",
        "role get, no name: etcdserver: role name not found",
        "role delete, no name: etcdserver: role name not found",
        "grant, unknown type: ok",
        "grant, empty key: ok",
        "grant, backwards range: ok",
        "revoke, empty key: ok",
        "authenticate, auth off: etcdserver: authentication is not enabled",
        "enable, no root: etcdserver: root user does not exist",
        "root, empty password: ok",
        "grant root: ok",
        "enable: ok",
        "log in, empty password: ok",
        "log in, no-password user: auth: authentication failed, password was given for no password user",
        "log in, first 72 bytes: ok",
        "log in, no name: etcdserver: authentication failed, invalid user ID or password",
      ]);
    }, 30_000);
  }

  test("etcdts: a grant without a permission is refused (etcd 3.4 crashes on it)", async () => {
    const { Client } = await import("../../client/client.ts");
    const { Auth } = await import("../../proto/gen/etcdserverpb/rpc_pb.ts");
    const s = await startServer("etcdts");
    const c = new Client({ endpoints: [s.endpoint], callTimeoutMs: 10_000 });
    await c.service(Auth).roleAdd({ name: "r" });
    // (awaited as a value: bun's expect().rejects stalls this client's HTTP/2 session)
    const answer = await c.service(Auth).roleGrantPermission({ name: "r" }).then(
      () => "ok",
      (e: Error) => e.message,
    );
    expect(answer).toBe("etcdserver: permission not given");
    c.close();
  }, 30_000);
});

describe("a failed login: clientv3's warning, then each command's own way to fail", () => {
  const failed = "attempt 0: rpc error: code = InvalidArgument desc = " +
    "etcdserver: authentication failed, invalid user ID or password";
  test("the same from etcd and etcdts, through etcdctl and our CLI", async () => {
    const dir = tempDir("etcdts-login-");
    const commands = [
      ["put", "k", "v"],
      ["endpoint", "health"],
      ["endpoint", "status"],
      ["snapshot", "save", path.join(dir, "s.db")],
    ];
    const results = await Promise.all(PAIRS.map(async (p) => {
      const s = await startServer(p.server);
      for (
        const args of [["user", "add", "root:rootpw"], ["user", "grant-role", "root", "root"], [
          "auth",
          "enable",
        ]]
      ) {
        expect((await cli(ETCDCTL_BIN, s, args)).code).toBe(0);
      }
      const out = [];
      for (const args of commands) {
        const r = seen(await cli(p.cli, s, ["--user=root:wrong", ...args]));
        out.push({ args: args.join(" "), ...r, stderr: r.stderr.map((l) => l.replace(s.endpoint, "EP")) });
      }
      return out;
    }));
    expect(results[0].map((r) => [r.code, r.warnings])).toEqual([
      [2, [failed]],
      [1, [failed]],
      [2, [failed]],
      [5, [failed]],
    ]);
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    expect(fs.existsSync(path.join(dir, "s.db.part"))).toBe(false);
  }, 60_000);
});

describe("asking for a password, as etcdctl does (speakeasy)", () => {
  test("prompts, stty's complaint off a terminal, a newline after each answer", async () => {
    const results = [];
    for (const [i, p] of PAIRS.entries()) {
      const s = await server(i);
      const out = [];
      for (
        const step of [
          { args: ["user", "add", "asked"], stdin: "pw\npw\n" },
          { args: ["user", "add", "asked2"], stdin: "pw\nother\n" },
          { args: ["user", "passwd", "asked"], stdin: "  pw2  \npw2\n" },
          { args: ["--user=asked", "get", "k"], stdin: "pw2\n" },
        ]
      ) {
        out.push({ args: step.args.join(" "), ...seen(await cli(p.cli, s, step.args, step.stdin)) });
      }
      results.push(out);
    }
    expect(results[0].map((r) => [r.stdout, r.code])).toEqual([
      ["Password of asked: \nType password of asked again for confirmation: \nUser asked created\n", 0],
      ["Password of asked2: \nType password of asked2 again for confirmation: \n", 128],
      ["Password of asked: \nType password of asked again for confirmation: \nPassword updated\n", 0],
      ["Password: \n", 0],
    ]);
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  }, 60_000);
});
