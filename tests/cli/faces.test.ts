/**
 * The help a user sees depends on the name the binary runs by: as `etcdts` it names the
 * server (`serve`, and etcd's `grpc-proxy` and `gateway`) above etcdctl's
 * commands; through a link named `etcdctl` it is the real etcdctl 3.4's help, byte for byte.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanup, ETCD_BIN, ETCDCTL_BIN, ETCDTS_BIN, haveRealEtcd, run, tempDir } from "../harness.ts";

afterAll(cleanup);

function link(name: string): string {
  const file = path.join(tempDir("etcdts-face-"), name);
  fs.symlinkSync(ETCDTS_BIN, file);
  return file;
}

describe.skipIf(!haveRealEtcd())("through a link named etcdctl", () => {
  const asked = [["--help"], ["-h"], ["help"], [], ["help", "nonsense"], ["migrate", "--help"], [
    "auth",
    "--help",
  ]];
  for (const args of asked) {
    test(`etcdctl ${args.join(" ")} is the real etcdctl's, byte for byte`, async () => {
      const ours = await run([link("etcdctl"), ...args]);
      const theirs = await run([ETCDCTL_BIN, ...args], { env: { ETCDCTL_API: "3" } });
      expect(ours).toEqual(theirs);
    });
  }
});

describe("as etcdts", () => {
  test("--help lists the server's commands above etcdctl's", async () => {
    for (const args of [["--help"], ["help"], []]) {
      const r = await run([ETCDTS_BIN, ...args]);
      expect(r.code).toBe(0);
      const out = r.stdout;
      expect(out).toStartWith("NAME:\n\tetcdts - ");
      expect(out).toContain("\n\tetcdts serve [flags]\n");
      const server = out.indexOf("SERVER COMMANDS:");
      const client = out.indexOf("CLIENT COMMANDS");
      expect(server).toBeGreaterThan(0);
      expect(client).toBeGreaterThan(server);
      const serverPart = out.slice(server, client);
      expect(serverPart).toMatch(/\n\tserve\s+Starts an etcd-compatible server/);
      expect(serverPart).toMatch(/\n\tgrpc-proxy start\s+etcd's stateless gRPC proxy/);
      expect(serverPart).toMatch(/\n\tgateway start\s+etcd's L4 TCP gateway/);
      // etcdts's own commands; etcdctl 3.4's that it does not build are not listed.
      expect(out.slice(client)).toMatch(/\n\tauth status\s/);
      expect(out.slice(client)).not.toContain("completion");
      expect(out.slice(client)).not.toContain("migrate");
    }
  });

  test("serve --help lists etcd's flags, --config-file and --force-new-cluster working", async () => {
    const r = await run([ETCDTS_BIN, "serve", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n {2}--config-file '' {2}\(etcd's YAML file/);
    expect(r.stdout).toMatch(/\n {2}--force-new-cluster 'false' {2}\(restart a member/);
  });

  test("grpc-proxy and gateway help and flag errors are etcd 3.4's, byte for byte, as etcdts and as etcd", async () => {
    const cases = [
      ["grpc-proxy"],
      ["grpc-proxy", "start", "--help"],
      ["grpc-proxy", "start", "--bogus"],
      ["gateway"],
      ["gateway", "start", "-h"],
      ["gateway", "start", "--retry-delay", "x"],
    ];
    for (const args of cases) {
      const ours = [await run([ETCDTS_BIN, ...args]), await run([link("etcd"), ...args])];
      for (const r of ours) {
        expect(r.code).toBe(args.includes("--bogus") || args.includes("x") ? 1 : 0);
        if (haveRealEtcd()) expect(r).toEqual(await run([ETCD_BIN, ...args]));
      }
    }
  });

  test("etcdctl 3.4's commands that are not built say so", async () => {
    const r = await run([ETCDTS_BIN, "completion", "bash"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "Error: completion bash is not built into etcdts\n" });
  });
});

describe.skipIf(!haveRealEtcd())(
  "through a link named etcd, a command line Go's flag package refuses",
  () => {
    const refused = [
      ["--nosuchflag"],
      ["--cors", "http://ok.example"],
      ["--snapshot-count", "lots"],
      ["--listen-client-urls=http://127.0.0.1:2379/x"],
      ["--name"],
      ["--cors="],
      ["--cors=https://a.example:443,*"],
      ["--snapshot-count=-1"],
      ["--max-txn-ops", "-5"],
    ];
    for (const args of refused) {
      test(`etcd ${args.join(" ")}: etcd's error and usage on stderr, exit 2`, async () => {
        const ours = await run([link("etcd"), ...args]);
        const theirs = await run([ETCD_BIN, ...args]);
        expect(theirs.code).toBe(2);
        expect(ours).toEqual(theirs);
      });
    }
  },
);

describe.skipIf(!haveRealEtcd())("through a link named etcd, what is left after the flags", () => {
  test("an argument that is no flag is an error, not a usage error: exit 1", async () => {
    for (const args of [["stray"], ["stray", "--bogus"]]) {
      expect((await run([link("etcd"), ...args])).code).toBe(1);
      expect((await run([ETCD_BIN, ...args])).code).toBe(1);
    }
  });
});
