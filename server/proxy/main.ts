/**
 * `etcd grpc-proxy start` (etcdmain/grpc_proxy.go): a stateless gRPC endpoint in front
 * of a cluster. Every v3 service is served on --listen-addr by our gRPC server over our
 * HTTP/2 layer (the member's, not a second one) and answered through our gRPC client:
 * KV with a cache for serializable ranges, Watch with coalescing, Lease with keep-alive
 * coalescing, Cluster with the proxies registered under --resolver-prefix; the rest
 * passes through. /metrics relays the upstream's, as etcd 3.4 does; /proxy/metrics is the
 * proxy's own (etcd 3.5's path), /health asks the cluster.
 */
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { Auth, Cluster, KV, Lease, Maintenance, Watch } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Lock } from "../../proto/gen/v3lockpb/v3lock_pb.ts";
import { Election } from "../../proto/gen/v3electionpb/v3election_pb.ts";
import { Client } from "../../client/client.ts";
import type { TlsOptions } from "../../client/channel.ts";
import { GrpcServer } from "../grpc/server.ts";
import { listenClient } from "../listen.ts";
import { serverTls } from "../tls.ts";
import { opensslCiphers } from "../cipher_suites.ts";
import { discoverClientEndpoints } from "../discovery/clients.ts";
import { log } from "../log.ts";
import { type Output, parseStart } from "../subcommand.ts";
import { GRPC_PROXY_COMMAND, type ProxyConfig, proxyConfig, refusedFlag } from "./flags.ts";
import { forwardService } from "./forward.ts";
import { watchProxy } from "./watch.ts";
import { kvProxy } from "./kv.ts";
import { leaseProxy } from "./lease.ts";
import { RangeCache } from "./cache.ts";
import { clusterProxy, register } from "./cluster.ts";
import { Namespace } from "./namespace.ts";
import { proxyHttp } from "./http.ts";

/** etcd's checkArgs: the resolver flags go together. */
function resolverArgsError(c: ProxyConfig): string | null {
  if (c.resolverPrefix !== "" && c.resolverTtl < 1) return `invalid resolver-ttl ${c.resolverTtl}`;
  if (c.resolverPrefix === "" && c.resolverTtl > 0) return `invalid resolver-prefix ""`;
  if (c.resolverPrefix !== "" && c.resolverTtl > 0 && c.advertiseClientUrl === "") {
    return `invalid advertise-client-url ""`;
  }
  return null;
}

/**
 * The proxy's certificate must not name a Common Name (etcd's TLSInfo.EmptyCN): with auth
 * on, etcd takes a client certificate's CN as the user, so a proxy holding one would act
 * as that user for every client it serves instead of passing on each client's token.
 */
function commonNameError(certFile: string): string | null {
  if (certFile === "") return null;
  const subject = new X509Certificate(fs.readFileSync(certFile)).subject;
  const cn = /^CN=(.*)$/m.exec(subject)?.[1] ?? "";
  return cn === "" ? null : `cert has non empty Common Name (${cn})`;
}

function upstreamTls(c: ProxyConfig): TlsOptions | undefined {
  const u = c.upstream;
  if (u.cert === "" && u.key === "" && u.ca === "" && !u.insecureSkipVerify) return undefined;
  if (u.insecureSkipVerify) {
    log.warn(
      "--insecure-skip-tls-verify was given, this grpc proxy process skips authentication of etcd server TLS certificates. This option should be enabled only for testing purposes.",
    );
  }
  return {
    ca: u.ca === "" ? undefined : fs.readFileSync(u.ca),
    cert: u.cert === "" ? undefined : fs.readFileSync(u.cert),
    key: u.key === "" ? undefined : fs.readFileSync(u.key),
    insecureSkipVerify: u.insecureSkipVerify,
  };
}

/** Runs `etcd grpc-proxy ...` (args after `grpc-proxy`); resolves with the exit code when it stops. */
export async function grpcProxyMain(args: readonly string[], out: Output, err: Output): Promise<number> {
  const parsed = parseStart(GRPC_PROXY_COMMAND, args, out, err);
  if (parsed.kind === "exit") return parsed.code;
  const config = proxyConfig(parsed.flags);
  const refused = refusedFlag(parsed.flags) ?? resolverArgsError(config);
  if (refused !== null) {
    err.write(`${refused}\n`);
    return 1;
  }
  if (config.debug) log.setLevel("debug");
  let tlsOut: TlsOptions | undefined;
  let tlsIn: ReturnType<typeof serverTls>;
  try {
    // etcd checks the client side only: its proxy serves with a named certificate.
    const cnError = commonNameError(config.upstream.cert);
    if (cnError !== null) {
      err.write(`${cnError}\n`);
      return 1;
    }
    tlsOut = upstreamTls(config);
    const suites = opensslCiphers(config.listen.cipherSuites);
    if ("error" in suites) {
      err.write(`${suites.error}\n`);
      return 1;
    }
    tlsIn = serverTls({
      certFile: config.listen.cert,
      keyFile: config.listen.key,
      trustedCaFile: config.listen.ca,
      clientCertAuth: config.listen.ca !== "",
      crlFile: config.listen.crl,
      autoTls: config.listen.autoTls,
      allowedCn: "",
      allowedHostname: "",
      ciphers: suites,
    }, { dataDir: config.dataDir, side: "proxy", hosts: [config.listenAddr.replace(/:\d+$/, "")] });
  } catch (e) {
    err.write(`${(e as Error).message}\n`);
    return 1;
  }
  const endpoints = await upstreamEndpoints(config);
  if (endpoints instanceof Error) {
    err.write(`${endpoints.message}\n`);
    return 1;
  }
  const client = new Client({
    endpoints,
    dialTimeoutMs: 5000,
    tls: tlsOut,
  });
  const grpc = new GrpcServer({ maxRecvMessageBytes: config.maxRecvBytes });
  const ns = config.namespace === "" ? null : new Namespace(config.namespace);
  const cache = new RangeCache();
  grpc.addService(KV, kvProxy(client, { ns, cache, serializableOrdering: config.serializableOrdering }));
  const watches = watchProxy(client, ns);
  grpc.addService(Watch, { watch: watches.watch });
  const leases = leaseProxy(client, ns);
  grpc.addService(Lease, leases.service);
  grpc.addService(Cluster, clusterProxy(client, config));
  const stopping = new AbortController();
  const registered = config.resolverPrefix === "" ? Promise.resolve() : register(client, {
    prefix: config.resolverPrefix,
    addr: config.advertiseClientUrl,
    ttlSeconds: config.resolverTtl,
    signal: stopping.signal,
  });
  grpc.addService(Maintenance, forwardService(Maintenance, client));
  grpc.addService(Auth, forwardService(Auth, client));
  grpc.addService(Lock, forwardService(Lock, client));
  grpc.addService(Election, forwardService(Election, client));

  const scheme = tlsIn === null ? "http" : "https";
  let listening;
  try {
    listening = await listenClient(new URL(`${scheme}://${config.listenAddr}`), {
      onStream: grpc.onStream,
      fetch: proxyHttp({
        client,
        endpoints: config.endpoints,
        watches: watches.stats,
        cache,
        keepAlivesCoalesced: leases.coalesced,
      }),
      maxConcurrentStreams: config.maxConcurrentStreams,
      maxBodyBytes: config.maxRecvBytes,
      tls: tlsIn,
    });
  } catch (e) {
    err.write(`listen tcp ${config.listenAddr}: ${(e as Error).message}\n`);
    return 1;
  }
  log.info("listening for gRPC proxy client requests", { address: config.listenAddr });
  log.info("started gRPC proxy", { address: config.listenAddr });
  return await new Promise<number>((resolve) => {
    const stop = async () => {
      stopping.abort();
      await registered;
      await listening.close();
      client.close();
      resolve(0);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

/** --endpoints, or those --discovery-srv finds (etcd's mustNewClient: none found means --endpoints). */
async function upstreamEndpoints(config: ProxyConfig): Promise<string[] | Error> {
  if (config.discovery.domain === "") return [...config.endpoints];
  const found = await discoverClientEndpoints({
    ...config.discovery,
    caFile: config.upstream.ca,
    env: process.env,
  });
  if (found instanceof Error || found.length > 0) return found;
  return [...config.endpoints];
}
