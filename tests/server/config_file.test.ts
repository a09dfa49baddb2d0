/**
 * `--config-file` (and ETCD_CONFIG_FILE): etcd's YAML configuration. One file starts the real
 * etcd 3.4 and etcdts alike, on the URLs, name and data dir it names, flags and ETCD_*
 * variables given beside it being ignored, as etcd 3.4 ignores them; a malformed file is
 * refused by both, and etcdts's error names the key and its line.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { flagKind } from "../../server/config.ts";
import { CONFIG_FILE_KEYS, settingsFromYaml } from "../../server/config_file.ts";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  ETCD_BIN,
  etcdctl,
  ETCDTS_BIN,
  freePort,
  haveRealEtcd,
  run,
  startServer,
  tempDir,
} from "../harness.ts";

afterAll(cleanup);

describe("reading the YAML", () => {
  test("every key the file takes is a server flag of the same name", () => {
    expect(CONFIG_FILE_KEYS.filter((k) => flagKind(k) === undefined)).toEqual([]);
  });

  test("values become what the flags would say", () => {
    const r = settingsFromYaml([
      "Name: n1", // Go matches keys case-insensitively
      "snapshot-count: 18446744073709551615",
      "auto-compaction-retention: '1.5'",
      "strict-reconfig-check: no", // YAML 1.1
      "experimental-corrupt-check-time: 90000000000", // nanoseconds
      "log-outputs: [stderr, stdout]",
      "cors:", // null: the default
      "cert-file: /ignored.pem", // a top-level TLS key: etcd ignores it
      "peer-transport-security:",
      "  cert-file: /p.pem",
      "  client-cert-auth: true",
      "tls-min-version: TLS1.2", // a later etcd's key
    ].join("\n"));
    if ("error" in r) throw new Error(r.error);
    expect(Object.fromEntries(r.given)).toEqual({
      "name": "n1",
      "snapshot-count": "18446744073709551615",
      "auto-compaction-retention": "1.5",
      "strict-reconfig-check": "false",
      "experimental-corrupt-check-time": "1m30s",
      "log-outputs": "stderr,stdout",
      "peer-cert-file": "/p.pem",
      "peer-client-cert-auth": "true",
    });
    expect(r.warnings).toEqual([
      'config file: ignored the unknown key "cert-file" (etcd reads cert-file from ' +
      "client-transport-security in a config file)",
      'config file: ignored the unknown key "tls-min-version" (etcd ignores it too)',
    ]);
  });

  test("etcd 3.6's discovery-config object sets the v3 discovery flags", () => {
    const r = settingsFromYaml([
      "discovery-config:",
      "  token: tok",
      "  client:",
      "    endpoints: [http://127.0.0.1:2379, http://127.0.0.1:22379]",
      "    dial-timeout: 3000000000",
      "    request-timeout: 7000000000",
      "    keepalive-time: 2000000000",
      "    keepalive-timeout: 6000000000",
      "    max-request-bytes: 1024",
      "    secure:",
      "      cacert: /ca.pem",
      "      cert: /c.pem",
      "      key: /c.key",
      "      insecure-transport: false",
      "      insecure-skip-tls-verify: true",
      "    auth:",
      "      username: alice",
      "      password: secret",
      "      colour: blue",
    ].join("\n"));
    if ("error" in r) throw new Error(r.error);
    expect(Object.fromEntries(r.given)).toEqual({
      "discovery-token": "tok",
      "discovery-endpoints": "http://127.0.0.1:2379,http://127.0.0.1:22379",
      "discovery-dial-timeout": "3s",
      "discovery-request-timeout": "7s",
      "discovery-keepalive-time": "2s",
      "discovery-keepalive-timeout": "6s",
      "discovery-cacert": "/ca.pem",
      "discovery-cert": "/c.pem",
      "discovery-key": "/c.key",
      "discovery-insecure-transport": "false",
      "discovery-insecure-skip-tls-verify": "true",
      "discovery-user": "alice",
      "discovery-password": "secret",
    });
    expect(r.warnings).toEqual([
      'config file: ignored "discovery-config.client.max-request-bytes": ' +
      "etcdts's discovery client sends only small requests",
      'config file: ignored the unknown key "discovery-config.client.auth.colour"',
    ]);
    const bad = settingsFromYaml("discovery-config:\n  client:\n    dial-timeout: 2s\n");
    expect(bad).toEqual({
      error: ", line 3: discovery-config.client.dial-timeout must be a whole number of nanoseconds " +
        '(etcd reads a duration so in its config file: 5000000000 is 5s), not the string "2s"',
    });
  });

  test("an empty file leaves every default", () => {
    expect(settingsFromYaml("")).toEqual({ given: new Map(), warnings: [] });
    expect(settingsFromYaml("# nothing\n")).toEqual({ given: new Map(), warnings: [] });
  });
});

/** A config file for one lone member on fresh loopback ports, in a fresh directory. */
async function memberFile(extra: string[] = []) {
  const dir = tempDir("config-file-");
  const client = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const dataDir = path.join(dir, "the-data");
  const file = path.join(dir, "etcd.conf.yml");
  fs.writeFileSync(
    file,
    [
      "# A file in the shape of etcd's etcd.conf.yml.sample.",
      "name: 'from-file'",
      `data-dir: ${dataDir}`,
      "wal-dir:",
      "snapshot-count: 10000",
      "heartbeat-interval: 100",
      "election-timeout: 1000",
      "quota-backend-bytes: 0",
      `listen-peer-urls: ${peer}`,
      `listen-client-urls: ${client}`,
      "max-snapshots: 5",
      "max-wals: 5",
      "cors:",
      `initial-advertise-peer-urls: ${peer}`,
      `advertise-client-urls: ${client}`,
      "discovery:",
      "discovery-fallback: 'proxy'",
      "discovery-proxy:",
      "discovery-srv:",
      `initial-cluster: from-file=${peer}`,
      "initial-cluster-token: 'file-cluster'",
      "initial-cluster-state: 'new'",
      "strict-reconfig-check: no", // YAML 1.1's boolean
      "enable-pprof: false",
      "proxy: 'off'",
      "proxy-failure-wait: 5000",
      "proxy-refresh-interval: 30000",
      "proxy-dial-timeout: 1000",
      "proxy-write-timeout: 5000",
      "proxy-read-timeout: 0",
      "client-transport-security:",
      "  cert-file:",
      "  key-file:",
      "  client-cert-auth: false",
      "  trusted-ca-file:",
      "  auto-tls: false",
      "peer-transport-security:",
      "  cert-file:",
      "  key-file:",
      "  client-cert-auth: false",
      "  trusted-ca-file:",
      "  auto-tls: false",
      "log-level: info",
      "logger: zap",
      "log-outputs: [stderr]",
      "force-new-cluster: false",
      "auto-compaction-mode: periodic",
      "auto-compaction-retention: '1'",
      "tls-min-version: 'TLS1.2'", // a later etcd's key: etcd 3.4 ignores it
      "experimental-jit-warmup: false", // etcdts's own: etcd ignores it
      ...extra,
    ].join("\n") + "\n",
  );
  return { dir, file, client, peer, dataDir, port: Number(new URL(client).port) };
}

interface MemberJson {
  header: { cluster_id: bigint };
  members: { ID: bigint; name: string; peerURLs: string[]; clientURLs: string[] }[];
}

/** `member list -w json` with its 64-bit IDs read exactly. */
async function memberList(endpoint: string): Promise<MemberJson> {
  const r = await etcdctl(endpoint, ["member", "list", "-w", "json"]);
  expect(r.code).toBe(0);
  const exact = r.stdout.replace(/("(?:ID|cluster_id|member_id)":)(\d+)/g, '$1"$2"');
  return JSON.parse(exact, (k, v) => (["ID", "cluster_id"].includes(k) ? BigInt(v) : v));
}

describe("one file starts etcd and etcdts alike", () => {
  test("on the file's URLs, name and data dir, ignoring flags and variables beside it", async () => {
    const f = await memberFile();
    const seen: Record<string, MemberJson> = {};
    for (const kind of CONFORMANCE_TARGETS) {
      fs.rmSync(f.dataDir, { recursive: true, force: true });
      const s = await startServer(kind, {
        clientPort: f.port,
        dataDir: f.dataDir,
        // Both say "ignored" of these, and mean it.
        args: ["--config-file", f.file, "--name", "from-flag", "--snapshot-count", "7"],
        env: { ETCD_NAME: "from-env", ETCD_DATA_DIR: path.join(f.dir, "env-data") },
      });
      const list = await memberList(s.endpoint);
      expect(list.members.map((m) => ({ name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs })))
        .toEqual([{ name: "from-file", peerURLs: [f.peer], clientURLs: [f.client] }]);
      seen[kind] = list;
      expect((await etcdctl(s.endpoint, ["put", "k", "from the file"])).stdout).toBe("OK\n");
      expect((await etcdctl(s.endpoint, ["get", "k", "--print-value-only"])).stdout).toBe("from the file\n");
      expect(fs.readdirSync(path.join(f.dataDir, "member")).sort()).toEqual(["snap", "wal"]);
      expect(fs.existsSync(path.join(f.dir, "env-data"))).toBe(false);
      expect(fs.existsSync("from-flag.etcd") || fs.existsSync("from-env.etcd")).toBe(false);
      if (kind === "etcdts") expect(s.stderr()).toContain("loaded server configuration");
      await s.stop(); // etcd dies of the SIGTERM it re-raises: no exit code to compare
    }
    // The same name, URLs and token: the same member and cluster IDs as etcd derives.
    if (seen.etcd !== undefined) {
      expect(seen.etcdts.header.cluster_id).toBe(seen.etcd.header.cluster_id);
      expect(seen.etcdts.members[0].ID).toBe(seen.etcd.members[0].ID);
    }
  });

  test("ETCD_CONFIG_FILE names the file when the flag does not", async () => {
    const f = await memberFile();
    for (const kind of CONFORMANCE_TARGETS) {
      fs.rmSync(f.dataDir, { recursive: true, force: true });
      const s = await startServer(kind, {
        clientPort: f.port,
        dataDir: f.dataDir,
        args: [],
        env: { ETCD_CONFIG_FILE: f.file },
      });
      expect((await memberList(s.endpoint)).members[0].name).toBe("from-file");
      await s.stop(); // etcd dies of the SIGTERM it re-raises: no exit code to compare
    }
  });
});

/** Runs a server with `--config-file file` until it exits (a malformed file: at once). */
async function refuse(kind: "etcdts" | "etcd", file: string) {
  const cmd = kind === "etcdts"
    ? [ETCDTS_BIN, "serve", "--config-file", file]
    : [ETCD_BIN, "--config-file", file];
  return await run(cmd, { timeoutMs: 10_000 });
}

describe("a malformed file is refused, naming the key", () => {
  const cases: [string, string, RegExp][] = [
    [
      "a word for a number",
      "name: x\nsnapshot-count: abc\n",
      /line 2: snapshot-count must be a whole number/,
    ],
    [
      "a negative unsigned",
      "heartbeat-interval: -5\n",
      /line 1: heartbeat-interval must be a whole number from 0/,
    ],
    [
      "a Go duration string (etcd wants nanoseconds)",
      "experimental-corrupt-check-time: 5s\n",
      /line 1: experimental-corrupt-check-time must be a whole number of nanoseconds/,
    ],
    ["a string for a list", "log-outputs: stderr\n", /line 1: log-outputs must be a list of strings/],
    ["a list for a string", "name: [a, b]\n", /line 1: name must be a string, not a list/],
    [
      "a number for a string",
      "auto-compaction-retention: 1\n",
      /line 1: auto-compaction-retention must be a string, not the number 1 \(quote it: "1"\)/,
    ],
    [
      "a quoted boolean",
      "client-transport-security:\n  client-cert-auth: 'true'\n",
      /line 2: client-transport-security.client-cert-auth must be true or false, not the string "true"/,
    ],
    [
      "a TLS object that is not one",
      "peer-transport-security: on\n",
      /line 1: peer-transport-security must be a mapping/,
    ],
    ["broken YAML", "name: [x\nsnapshot-count: 1\n", /config file .*: Flow sequence/],
    ["a list, not a mapping", "- name\n- x\n", /must be a mapping of etcd's configuration keys, not a list/],
    ["an unknown cluster state", "initial-cluster-state: bogus\n", /initial-cluster-state/],
  ];
  for (const [what, yaml, message] of cases) {
    test(what, async () => {
      const file = path.join(tempDir("bad-config-"), "etcd.conf.yml");
      fs.writeFileSync(file, yaml);
      const ours = await refuse("etcdts", file);
      expect(ours.code).toBe(1);
      expect(ours.stderr).toMatch(message);
      if (haveRealEtcd()) expect((await refuse("etcd", file)).code).not.toBe(0);
    });
  }

  test("a file that is not there", async () => {
    const file = path.join(tempDir("no-config-"), "missing.yml");
    const ours = await refuse("etcdts", file);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toBe(`etcdts: config file: open ${file}: no such file or directory\n`);
    if (haveRealEtcd()) {
      expect((await refuse("etcd", file)).stderr).toContain(`open ${file}: no such file or directory`);
    }
  });

  test("a malformed flag beside the file is still refused, as Go's flag parsing refuses it", async () => {
    const f = await memberFile();
    const r = await run([ETCDTS_BIN, "serve", "--config-file", f.file, "--snapshot-count", "lots"]);
    expect(r.code).toBe(2); // Go's flag package exits 2, and so does etcd
    expect(r.stderr).toContain('invalid value "lots" for flag -snapshot-count');
  });
});
