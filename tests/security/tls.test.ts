/**
 * TLS on the client port: server certificates, client-certificate authentication (an
 * untrusted or revoked certificate is refused), the certificate's CN as the auth user,
 * and --auto-tls. The same steps run with etcdctl against etcdts and the real etcd.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cleanup,
  ETCDCTL_BIN,
  ETCDTS_BIN,
  haveRealEtcd,
  run,
  type RunResult,
  type ServerProcess,
  startServer,
  tempDir,
} from "../harness.ts";
import { makeCerts } from "./certs.ts";

let certs = "";

function tlsArgs(client: string | null, opts: { ca?: boolean } = {}): string[] {
  const out = opts.ca === false ? [] : [`--cacert=${certs}/ca.pem`];
  if (client !== null) out.push(`--cert=${certs}/${client}.pem`, `--key=${certs}/${client}.key`);
  return out;
}

function cli(bin: "etcdctl" | "etcdts", s: ServerProcess, args: string[]): Promise<RunResult> {
  const cmd = bin === "etcdctl" ? [ETCDCTL_BIN] : [ETCDTS_BIN];
  return run([...cmd, `--endpoints=${s.clientUrl}`, "--dial-timeout=2s", ...args], {
    env: { ETCDCTL_API: "3" },
    timeoutMs: 20_000,
  });
}

function serverTlsArgs(extra: string[] = []): string[] {
  return [`--cert-file=${certs}/server.pem`, `--key-file=${certs}/server.key`, ...extra];
}

beforeAll(() => {
  certs = tempDir("etcdts-certs-");
  makeCerts(certs);
});
afterAll(cleanup);

const KINDS = haveRealEtcd() ? (["etcdts", "etcd"] as const) : (["etcdts"] as const);

for (const kind of KINDS) {
  describe(`${kind}: TLS`, () => {
    test("server certificate: put/get with --cacert; refused without trust unless skip-verify", async () => {
      const s = await startServer(kind, { clientScheme: "https", extraArgs: serverTlsArgs() });
      for (const bin of ["etcdctl", "etcdts"] as const) {
        expect((await cli(bin, s, [...tlsArgs(null), "put", "k", "v"])).stdout).toBe("OK\n");
        expect((await cli(bin, s, [...tlsArgs(null), "get", "k"])).stdout).toBe("k\nv\n");
        // Leases over TLS too: grant, attach, and read back its time to live with the key.
        const grant = (await cli(bin, s, [...tlsArgs(null), "lease", "grant", "100"])).stdout;
        expect(grant).toMatch(/^lease [0-9a-f]+ granted with TTL\(100s\)\n$/);
        const id = grant.split(" ")[1];
        expect((await cli(bin, s, [...tlsArgs(null), "put", "leased", "v", `--lease=${id}`])).stdout).toBe(
          "OK\n",
        );
        const ttl = (await cli(bin, s, [...tlsArgs(null), "lease", "timetolive", id, "--keys"])).stdout;
        expect(ttl).toMatch(
          new RegExp(
            `^lease ${id} granted with TTL\\(100s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)\n$`,
          ),
        );
        const untrusted = await cli(bin, s, ["--insecure-transport=false", "get", "k"]);
        expect(untrusted.code).not.toBe(0);
        const skip = await cli(bin, s, [
          "--insecure-transport=false",
          "--insecure-skip-tls-verify",
          "get",
          "k",
        ]);
        expect(skip.stdout).toBe("k\nv\n");
      }
      if (kind === "etcdts") {
        // HTTP/1.1 on the same TLS port (ALPN).
        const r = await fetch(`${s.clientUrl}/health`, {
          tls: { ca: fs.readFileSync(`${certs}/ca.pem`, "utf8") },
        });
        expect(r.ok).toBe(true);
      }
    }, 60_000);

    for (const crl of ["crl.pem", "crl.der", "crl-expired.pem"]) {
      test(
        `client-cert-auth: trusted certificate works; none, untrusted or revoked are refused (${crl})`,
        async () => {
          const s = await startServer(kind, {
            clientScheme: "https",
            extraArgs: serverTlsArgs([
              "--client-cert-auth",
              `--trusted-ca-file=${certs}/ca.pem`,
              `--client-crl-file=${certs}/${crl}`,
            ]),
          });
          // Each refusal waits out the client's dial timeout: they run side by side, and the
          // other CRL encodings need only the revoked certificate's.
          const refused = crl === "crl.pem" ? [null, "evil", "mallory"] : ["mallory"];
          await Promise.all((["etcdctl", "etcdts"] as const).map(async (bin) => {
            expect((await cli(bin, s, [...tlsArgs("alice"), "put", "k", "v"])).stdout).toBe("OK\n");
            const codes = await Promise.all(refused.map(async (who) => {
              const r = await cli(bin, s, [...tlsArgs(who), "get", "k"]);
              return { bin, who, ok: r.code === 0 };
            }));
            expect(codes).toEqual(refused.map((who) => ({ bin, who, ok: false })));
          }));
        },
        90_000,
      );
    }

    test("the certificate's CN is the user when auth is enabled", async () => {
      const s = await startServer(kind, {
        clientScheme: "https",
        extraArgs: serverTlsArgs(["--client-cert-auth", `--trusted-ca-file=${certs}/ca.pem`]),
      });
      const as = (who: string, args: string[]) => cli("etcdctl", s, [...tlsArgs(who), ...args]);
      for (
        const step of [
          ["user", "add", "root", "--no-password"],
          ["user", "add", "alice", "--no-password"],
          ["role", "add", "a"],
          ["role", "grant-permission", "a", "readwrite", "--prefix", "a/"],
          ["user", "grant-role", "alice", "a"],
          ["auth", "enable"],
        ]
      ) {
        const r = await as("root", step);
        expect({ step, code: r.code, err: r.stderr.split("\n").filter((l) => l.startsWith("Error")) })
          .toEqual({ step, code: 0, err: [] });
      }
      expect((await as("alice", ["put", "a/1", "x"])).stdout).toBe("OK\n");
      expect((await as("alice", ["get", "a/1", "--print-value-only"])).stdout).toBe("x\n");
      expect((await as("alice", ["put", "b", "x"])).stderr).toContain("Error: etcdserver: permission denied");
      expect((await as("mallory", ["get", "a/1"])).stderr).toContain("Error: etcdserver: permission denied");
      expect((await as("alice", ["user", "list"])).stderr).toContain("Error: etcdserver: permission denied");
      expect((await as("root", ["user", "list"])).stdout).toBe("alice\nroot\n");
      // Our CLI with the same certificates.
      const ours = await cli("etcdts", s, [...tlsArgs("alice"), "get", "a/", "--prefix"]);
      expect(ours.stdout).toBe("a/1\nx\n");
      // A watch on a permitted key streams; a denied one is cancelled.
      const watch = Bun.spawn([
        ETCDCTL_BIN,
        `--endpoints=${s.clientUrl}`,
        ...tlsArgs("alice"),
        "watch",
        "a/1",
      ], {
        env: { ...process.env, ETCDCTL_API: "3" },
        stdout: "pipe",
        stderr: "pipe",
      });
      await Bun.sleep(500);
      await as("alice", ["put", "a/1", "y"]);
      const reader = (watch.stdout as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      expect(new TextDecoder().decode(value)).toContain("PUT\na/1\ny\n");
      watch.kill();
      const denied = await run(
        [ETCDCTL_BIN, `--endpoints=${s.clientUrl}`, ...tlsArgs("alice"), "watch", "b"],
        { env: { ETCDCTL_API: "3" }, timeoutMs: 10_000 },
      );
      expect(denied.stderr + denied.stdout).toContain("permission denied");
    }, 90_000);
  });
}

describe("etcdts: --auto-tls", () => {
  test("serves TLS with a generated certificate", async () => {
    const s = await startServer("etcdts", { clientScheme: "https", extraArgs: ["--auto-tls"] });
    const r = await cli("etcdts", s, [
      "--insecure-transport=false",
      "--insecure-skip-tls-verify",
      "put",
      "a",
      "b",
    ]);
    expect(r.stdout).toBe("OK\n");
    expect(fs.existsSync(path.join(s.dataDir, "fixtures", "client", "cert.pem"))).toBe(true);
  }, 30_000);
});
