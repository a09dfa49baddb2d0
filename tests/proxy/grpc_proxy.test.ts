/**
 * `etcd grpc-proxy start` in front of one member: the CLI works through it (put, get, txn,
 * watch, lease keep-alive, member list), with our proxy in front of etcdts, etcd's own in
 * front of etcd, and our proxy in front of etcd.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  cleanup,
  ETCD_BIN,
  etcdts,
  ETCDTS_BIN,
  freePort,
  haveRealEtcd,
  run,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";
import * as os from "node:os";
import { startProxy } from "./proxy_process.ts";
import { makeCerts } from "../security/certs.ts";

afterAll(cleanup);

const SETUPS: { name: string; server: "etcdts" | "etcd"; proxy: "etcdts" | "etcd" }[] = [
  { name: "etcdts's proxy in front of etcdts", server: "etcdts", proxy: "etcdts" },
  ...(haveRealEtcd()
    ? [
      { name: "etcd's proxy in front of etcd", server: "etcd" as const, proxy: "etcd" as const },
      { name: "etcdts's proxy in front of etcd", server: "etcd" as const, proxy: "etcdts" as const },
    ]
    : []),
];

describe.each(SETUPS)("$name", ({ server: serverKind, proxy: proxyKind }) => {
  test("put, get, txn, watch, lease keep-alive and member list through the proxy", async () => {
    const server = await startServer(serverKind);
    const proxy = await startProxy(proxyKind, "grpc-proxy", ["--endpoints", server.endpoint]);
    const ep = proxy.endpoint;
    expect((await etcdts(ep, ["put", "k", "v1"])).stdout).toBe("OK\n");
    expect((await etcdts(ep, ["get", "k"])).stdout).toBe("k\nv1\n");
    expect((await etcdts(ep, ["get", "k", "--consistency=s", "--print-value-only"])).stdout).toBe("v1\n");
    const txn = await etcdts(ep, ["txn"], { stdin: 'value("k") = "v1"\n\nput k v2\n\nput k v3\n\n' });
    expect(txn.stdout).toBe("SUCCESS\n\nOK\n");
    expect((await etcdts(server.endpoint, ["get", "k", "--print-value-only"])).stdout).toBe("v2\n");

    const watch = Bun.spawn([ETCDTS_BIN, `--endpoints=${ep}`, "watch", "w"], { stdout: "pipe" });
    let seen = "";
    (async () => {
      for await (const c of watch.stdout) seen += new TextDecoder().decode(c);
    })();
    // The watch is open once a put made now reaches it.
    await waitFor("the watch through the proxy", async () => {
      await etcdts(ep, ["put", "w", "x"]);
      return seen.includes("PUT\nw\nx\n");
    });
    watch.kill();

    const grant = await etcdts(ep, ["lease", "grant", "60"]);
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)![1];
    const ka = await etcdts(ep, ["lease", "keep-alive", "--once", id]);
    expect(ka.stdout).toBe(`lease ${id} keepalived with TTL(60)\n`);

    const members = await etcdts(ep, ["member", "list", "-w", "simple"]);
    expect(members.code).toBe(0);
    expect(members.stdout).toContain(", started, ");
  });
});

test("grpc-proxy refuses what etcd refuses, with etcd's message", async () => {
  for (const args of [["--resolver-prefix", "p"], ["--resolver-ttl", "5"]]) {
    const ours = await run([ETCDTS_BIN, "grpc-proxy", "start", ...args]);
    expect(ours.code).toBe(1);
    if (haveRealEtcd()) {
      const theirs = await run([ETCD_BIN, "grpc-proxy", "start", ...args]);
      expect(ours.stderr).toBe(theirs.stderr);
    }
  }
  // A client certificate with a CN would make the proxy's upstream calls that user's.
  const dir = tempDir();
  makeCerts(dir);
  const listen = `127.0.0.1:${await freePort()}`;
  const cn = [
    "--listen-addr",
    listen,
    "--endpoints",
    "127.0.0.1:1",
    "--cert",
    `${dir}/alice.pem`,
    "--key",
    `${dir}/alice.key`,
  ];
  const refusedCn = await run([ETCDTS_BIN, "grpc-proxy", "start", ...cn, "--cacert", `${dir}/ca.pem`]);
  expect(refusedCn).toEqual({ code: 1, stdout: "", stderr: "cert has non empty Common Name (alice)\n" });
  if (haveRealEtcd()) {
    const theirs = await run([ETCD_BIN, "grpc-proxy", "start", ...cn, "--cacert", `${dir}/ca.pem`]);
    // etcd listens (and logs it) before it makes its client; the refusal is its last line.
    expect(theirs.code).toBe(1);
    expect(theirs.stderr).toEndWith(`\n${refusedCn.stderr}`);
  }
  const pprof = await run([ETCDTS_BIN, "grpc-proxy", "start", "--enable-pprof"]);
  expect(pprof).toMatchObject({
    code: 1,
    stderr: expect.stringContaining("--enable-pprof is not supported"),
  });
});

describe.each(SETUPS)("--namespace, $name", ({ server: serverKind, proxy: proxyKind }) => {
  test("keys through the proxy live under the prefix; ranges, txns and watches see them without it", async () => {
    const server = await startServer(serverKind);
    const proxy = await startProxy(proxyKind, "grpc-proxy", [
      "--endpoints",
      server.endpoint,
      "--namespace",
      "ns/",
    ]);
    const ep = proxy.endpoint;
    const watch = Bun.spawn([ETCDTS_BIN, `--endpoints=${ep}`, "watch", "--prefix", "a"], { stdout: "pipe" });
    let seen = "";
    (async () => {
      for await (const c of watch.stdout) seen += new TextDecoder().decode(c);
    })();
    await waitFor("the namespaced watch", async () => {
      await etcdts(ep, ["put", "a1", "x"]);
      return seen.includes("PUT\na1\nx\n");
    });
    watch.kill();
    expect((await etcdts(ep, ["put", "a2", "y"])).stdout).toBe("OK\n");
    await etcdts(server.endpoint, ["put", "outside", "z"]);
    expect((await etcdts(server.endpoint, ["get", "ns/", "--prefix", "--keys-only"])).stdout).toBe(
      "ns/a1\n\nns/a2\n\n",
    );
    expect((await etcdts(ep, ["get", "", "--from-key", "--keys-only"])).stdout).toBe("a1\n\na2\n\n");
    expect((await etcdts(ep, ["get", "a", "--prefix", "-w", "fields"])).stdout).toContain('"Key" : "a1"');
    const txn = await etcdts(ep, ["txn"], { stdin: 'value("a1") = "x"\n\nget a2\n\n\n' });
    expect(txn.stdout).toBe("SUCCESS\n\na2\ny\n");
    expect((await etcdts(ep, ["del", "a", "--prefix", "--prev-kv"])).stdout).toBe("2\na1\nx\na2\ny\n");
    expect((await etcdts(server.endpoint, ["get", "outside", "--print-value-only"])).stdout).toBe("z\n");
    const grant = await etcdts(ep, ["lease", "grant", "60"]);
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)![1];
    await etcdts(ep, ["put", "leased", "v", "--lease", id]);
    await etcdts(server.endpoint, ["put", "elsewhere", "v", "--lease", id]);
    const ttl = await etcdts(ep, ["lease", "timetolive", id, "--keys"]);
    expect(ttl.stdout).toEndWith(", attached keys([leased])\n");
  });
});

describe.each(SETUPS)("--resolver-prefix, $name", ({ server: serverKind, proxy: proxyKind }) => {
  test("two proxies register under the prefix with a lease, and member list names them", async () => {
    const server = await startServer(serverKind);
    const flags = (addr: string) => [
      "--endpoints",
      server.endpoint,
      "--resolver-prefix",
      "proxies",
      "--resolver-ttl",
      "5",
      "--advertise-client-url",
      addr,
    ];
    const a = await startProxy(proxyKind, "grpc-proxy", flags("127.0.0.1:1001"));
    await startProxy(proxyKind, "grpc-proxy", flags("127.0.0.1:1002"));
    await waitFor("both registrations", async () => {
      const r = await etcdts(server.endpoint, ["get", "proxies/", "--prefix", "--keys-only"]);
      return r.stdout === "proxies/127.0.0.1:1001\n\nproxies/127.0.0.1:1002\n\n";
    });
    const v = await etcdts(server.endpoint, ["get", "proxies/127.0.0.1:1001", "--print-value-only"]);
    expect(JSON.parse(v.stdout)).toEqual({
      Op: 0,
      Addr: "127.0.0.1:1001",
      Metadata: `{"name":"${os.hostname()}"}`,
    });
    const kv = await etcdts(server.endpoint, ["get", "proxies/127.0.0.1:1001", "-w", "json"]);
    expect(JSON.parse(kv.stdout).kvs[0].lease).toBeGreaterThan(0);
    await waitFor("member list through a proxy to name both", async () => {
      const list = await etcdts(a.endpoint, ["member", "list"]);
      return list.stdout.split("\n").filter((l) => l.includes(`, started, ${os.hostname()}, , 127.0.0.1:100`))
        .length === 2;
    });
  });
});

describe.each(SETUPS)("the range cache, $name", ({ server: serverKind, proxy: proxyKind }) => {
  test("serializable reads may miss writes made elsewhere; the proxy's own writes and linearizable reads do not", async () => {
    const server = await startServer(serverKind);
    const proxy = await startProxy(proxyKind, "grpc-proxy", ["--endpoints", server.endpoint]);
    const ep = proxy.endpoint;
    const serializable = async () =>
      (await etcdts(ep, ["get", "c", "--consistency=s", "--print-value-only"])).stdout;
    await etcdts(ep, ["put", "c", "1"]);
    expect(await serializable()).toBe("1\n");
    await etcdts(server.endpoint, ["put", "c", "2"]); // behind the proxy's back
    expect(await serializable()).toBe("1\n");
    expect((await etcdts(ep, ["get", "c", "--print-value-only"])).stdout).toBe("2\n");
    await etcdts(server.endpoint, ["put", "c", "3"]);
    await etcdts(ep, ["put", "c", "4"]);
    expect(await serializable()).toBe("4\n");
    if (proxyKind === "etcdts") {
      const metrics = await (await fetch(`http://${ep}/proxy/metrics`)).text();
      expect(metrics).toMatch(/^etcd_grpc_proxy_cache_hits_total [1-9]/m);
    }
  });
});

test("--experimental-serializable-ordering: serializable reads through the proxy still answer", async () => {
  const server = await startServer("etcdts");
  const proxy = await startProxy("etcdts", "grpc-proxy", [
    "--endpoints",
    server.endpoint,
    "--experimental-serializable-ordering",
  ]);
  await etcdts(proxy.endpoint, ["put", "o", "1"]);
  const r = await etcdts(proxy.endpoint, ["get", "o", "--consistency=s", "-w", "json"]);
  expect(JSON.parse(r.stdout).header.revision).toBe(2);
});
