/**
 * One executable, two faces: invoked as `etcd` or with `serve` it is the server;
 * otherwise (or as `etcdctl`) it is the etcdctl-compatible CLI, whose help lists the
 * server's commands too unless it runs as `etcdctl`. Each face is imported
 * lazily so the other's modules cost nothing at startup.
 */
import * as path from "node:path";

// Compiled, argv0 is the name the binary was invoked by (a link's own name); under
// `bun main.ts`, argv[1] is the script's path.
const invokedAs = [process.argv0, process.argv[1] ?? ""].map((p) => path.basename(p));
const name = invokedAs.find((n) => n === "etcd" || n === "etcdctl") ?? "";
const args = process.argv.slice(2);

// etcd's other server commands (`etcd gateway start`, `etcd grpc-proxy start`).
const proxyCommands: Record<string, () => Promise<(args: string[]) => Promise<number>>> = {
  "gateway": async () => {
    const { gatewayMain } = await import("./server/tcpproxy/gateway.ts");
    return (a) => gatewayMain(a, process.stdout, process.stderr);
  },
  "grpc-proxy": async () => {
    const { grpcProxyMain } = await import("./server/proxy/main.ts");
    return (a) => grpcProxyMain(a, process.stdout, process.stderr);
  },
};

if (args[0] === "__export-etcd-backend") {
  // A server's snapshot export, run by the server itself (server/export_child.ts).
  const { exportChildMain } = await import("./server/export_child.ts");
  process.exit(await exportChildMain(args.slice(1)));
} else if (name !== "etcdctl" && Object.hasOwn(proxyCommands, args[0] ?? "")) {
  const main = await proxyCommands[args[0]]();
  process.exit(await main(args.slice(1)));
} else if (name === "etcd" || (name !== "etcdctl" && args[0] === "serve")) {
  const { serveMain } = await import("./server/serve_main.ts");
  const code = await serveMain(name === "etcd" ? args : args.slice(1), {
    stdout: process.stdout,
    stderr: process.stderr,
  }, name === "etcd" ? "etcd" : "etcdts");
  process.exit(code);
} else {
  const { runCli } = await import("./cmd/main.ts");
  const { fdSink, lazyStdin } = await import("./cmd/io.ts");
  // Touching process.stdin costs ~5 ms of startup; only commands that read it pay.
  const stdin = lazyStdin();
  try {
    process.exitCode = await runCli(args, {
      env: process.env,
      stdin,
      // process.stdout/stderr cost ~8 ms more: synchronous fd writes instead.
      stdout: fdSink(1),
      stderr: fdSink(2),
    }, { face: name === "etcdctl" ? "etcdctl" : "etcdts" });
  } finally {
    stdin.release();
  }
}
