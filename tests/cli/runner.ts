/**
 * Runs CLI transcripts: spawns a CLI (ours or the real etcdctl) per step against the server
 * under test and compares stdout, stderr's non-log lines and the exit code. One suite, two
 * CLIs, any server: the server is just an endpoint.
 */
import { Client } from "../../client/client.ts";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { ETCDTS_VERSION } from "../../api/version.ts";

/** A CLI to test: how to start it, and what `version` prints after etcdctl's two lines. */
export interface CliUnderTest {
  name: string;
  argv: string[];
  ownVersion: string;
}

/** etcdts's CLI: the compiled binary in ETCDTS_CLI, else cmd/dev.ts under the running bun. */
export function ourCli(): CliUnderTest {
  const bin = process.env.ETCDTS_CLI;
  const argv = bin ? [bin] : [process.execPath, new URL("../../cmd/dev.ts", import.meta.url).pathname];
  return { name: "etcdts", argv, ownVersion: `etcdts version: ${ETCDTS_VERSION}\n` };
}

/** The reference etcdctl 3.4 (ETCDCTL_BIN overrides). */
export function realEtcdctl(): CliUnderTest {
  return { name: "etcdctl", argv: [process.env.ETCDCTL_BIN ?? "/usr/bin/etcdctl"], ownVersion: "" };
}

/** What one invocation produced. */
export interface Outcome {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a CLI once with a clean environment (no ETCDCTL_* from the developer's shell). */
export async function runOnce(
  cli: CliUnderTest,
  args: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<Outcome> {
  const proc = Bun.spawn([...cli.argv, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...opts.env },
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

// etcdctl's log lines (zap JSON warnings, capnslog) carry timestamps: not part of the contract.
const logLine = /^(\{"level":|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [A-Z] \| )/;

/** stderr without log lines. */
export function stderrContract(stderr: string): string {
  return stderr.split("\n").filter((l) => !logLine.test(l)).join("\n");
}

/** One invocation and what it must produce; `{{...}}` placeholders are filled per run. */
export interface Step {
  args: string[];
  stdin?: string;
  env?: Record<string, string>;
  /** Don't prepend --endpoints={{ep}}. */
  raw?: boolean;
  out?: string | RegExp;
  err?: string | RegExp;
  code?: number;
}

export interface Transcript {
  name: string;
  steps: Step[];
}

/** Values for placeholders: {{ep}}, {{down}}, {{cluster_id}}, {{member_id}}, {{member_hex}}, {{rev+N}}, {{own_version}}. */
export interface Vars {
  ep: string;
  down: string;
  clusterId: bigint;
  memberId: bigint;
  baseRev: bigint;
  ownVersion: string;
}

/** Reads the ids and current revision of the server under test. */
export async function serverVars(ep: string, down: string, ownVersion: string): Promise<Vars> {
  const c = new Client({ endpoints: [ep], callTimeoutMs: 5000 });
  try {
    const h = (await c.service(KV).range({ key: new TextEncoder().encode("\0") })).header!;
    return { ep, down, clusterId: h.clusterId, memberId: h.memberId, baseRev: h.revision, ownVersion };
  } finally {
    c.close();
  }
}

/** Fills placeholders. */
export function fill(s: string, v: Vars): string {
  return s
    .replaceAll("{{ep}}", v.ep)
    .replaceAll("{{down}}", v.down)
    .replaceAll("{{cluster_id}}", String(v.clusterId))
    .replaceAll("{{member_id}}", String(v.memberId))
    .replaceAll("{{member_hex}}", v.memberId.toString(16))
    .replaceAll("{{own_version}}", v.ownVersion)
    .replace(/\{\{rev\+(\d+)\}\}/g, (_m, n: string) => String(v.baseRev + BigInt(n)));
}

/** Runs a step and returns a description of each mismatch (empty when it passed). */
export async function checkStep(cli: CliUnderTest, step: Step, v: Vars): Promise<string[]> {
  const args = step.args.map((a) => fill(a, v));
  const got = await runOnce(cli, step.raw ? args : [`--endpoints=${v.ep}`, ...args], {
    stdin: step.stdin === undefined ? undefined : fill(step.stdin, v),
    env: step.env ? Object.fromEntries(Object.entries(step.env).map(([k, x]) => [k, fill(x, v)])) : undefined,
  });
  const problems: string[] = [];
  const where = `${cli.name} ${args.join(" ")}`;
  const match = (what: string, actual: string, want: string | RegExp | undefined) => {
    const expected = want === undefined
      ? ""
      : typeof want === "string"
      ? fill(want, v)
      : new RegExp(fill(want.source, v), want.flags);
    const ok = typeof expected === "string" ? actual === expected : expected.test(actual);
    if (!ok) {
      problems.push(
        `${where}: ${what}\n  want ${JSON.stringify(String(expected))}\n  got  ${JSON.stringify(actual)}`,
      );
    }
  };
  match("stdout", got.stdout, step.out);
  match("stderr", stderrContract(got.stderr), step.err);
  if (got.code !== (step.code ?? 0)) {
    problems.push(`${where}: exit code want ${step.code ?? 0} got ${got.code}`);
  }
  return problems;
}
