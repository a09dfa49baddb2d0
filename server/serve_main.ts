/**
 * `etcdts serve`'s composition: flags or config file, the JIT machinery's re-exec (which
 * must come before anything is written or loaded that the restarted process would write
 * or load again), logging, the warm-up, the member, and the signals that stop it. The
 * server's modules (serve.ts) load after the re-exec.
 */
import { parseServerArgs, serverUsage } from "./config.ts";
import { ETCDTS_VERSION, SERVER_VERSION } from "../api/version.ts";
import { idHex } from "./ids.ts";
import { log, openLogOutputs } from "./log.ts";
import { JitMachinery } from "./jit/mod.ts";

export interface Io {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** Entry point for `etcdts serve ARGS`; resolves with the exit code once the server stops. */
export async function serveMain(
  args: readonly string[],
  io: Io,
  face: "etcd" | "etcdts" = "etcdts",
): Promise<number> {
  const fromArgs = parseServerArgs(args, process.env);
  const configFile = fromArgs.kind === "file" ? fromArgs.path : null;
  const parsed = fromArgs.kind === "file"
    ? (await import("./config_file.ts")).loadConfigFile(fromArgs.path)
    : fromArgs;
  switch (parsed.kind) {
    case "help":
      if (face === "etcdts") {
        io.stdout.write(serverUsage());
        return 0;
      }
      {
        const { ETCD_USAGE, ETCD_FLAGS_HELP } = await import("./etcd_help.ts");
        io.stderr.write(ETCD_USAGE);
        io.stdout.write(ETCD_FLAGS_HELP);
      }
      return 0;
    case "version":
      io.stdout.write(
        `etcd Version: ${SERVER_VERSION}\netcdts Version: ${ETCDTS_VERSION}\nGo Version: none (Bun ${Bun.version})\n`,
      );
      return 0;
    case "error":
      if (parsed.usage !== true) {
        io.stderr.write(`etcdts: ${parsed.message}\n`);
        return 1;
      }
      // Go's flag package: the error, then (etcd's face) etcd's usage lines; exit 2.
      if (face === "etcdts") io.stderr.write(`etcdts: ${parsed.message}\n`);
      else io.stderr.write(`${parsed.message}\n${(await import("./etcd_help.ts")).ETCD_USAGE}`);
      return 2;
  }
  const given = parsed.config;
  // Before anything is written: it may restart this process with JSC's options.
  const jit = await JitMachinery.prepare(given.jitWarmup, process.env);
  for (const w of given.logWarnings) io.stderr.write(w + "\n");
  try {
    log.configure({ capnslog: given.logger === "capnslog", sinks: openLogOutputs(given.logOutputs) });
  } catch (e) {
    io.stderr.write(`etcdts: cannot open a --log-outputs target: ${(e as Error).message}\n`);
    return 1;
  }
  log.setLevel(given.logLevel);
  if (given.logOutputs.includes("journal")) {
    log.warn("etcdts does not write to systemd's journal; logging to stderr");
  }
  if (configFile !== null) {
    log.info(
      "loaded server configuration, other configuration command line flags and environment variables " +
        "will be ignored if provided",
      { path: configFile },
    );
  }
  for (const w of [...parsed.warnings, ...jit.warnings]) log.warn(w);
  const config = await (await import("./discovery/bootstrap.ts")).discoveredConfig(given);
  if (config === null) return 1;
  // A signal during the warm-up ends it (and its directory) before we exit.
  const signalled = new AbortController();
  const onSignal = (name: string) => () => signalled.abort(`received ${name}, shutting down`);
  process.once("SIGINT", onSignal("SIGINT"));
  process.once("SIGTERM", onSignal("SIGTERM"));
  // The server's modules load only now: before the re-exec they would load twice.
  const { startServer } = await import("./serve.ts");
  await jit.warmUp((config) => startServer(config), signalled.signal);
  if (signalled.signal.aborted) {
    log.info(String(signalled.signal.reason));
    return 0;
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  let removed: () => void = () => {};
  const whenRemoved = new Promise<void>((r) => (removed = r));
  try {
    server = await startServer(config, { onRemoved: () => removed() });
  } catch (e) {
    io.stderr.write(`etcdts: ${(e as Error).message}\n`);
    return 1;
  }
  const running = server;
  jit.start();
  log.info(
    `serving client requests on ${
      running.listening.slice(0, config.listenClientUrls.length).map((l) => l.url.href).join(", ")
    } as member ${idHex(running.member.memberId)} of cluster ${
      idHex(running.member.clusterId)
    }, data in ${config.dataDir}`,
  );
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      log.info(why);
      jit.stop();
      running.stop().then(() => resolve(0), () => resolve(1));
    };
    signalled.signal.addEventListener("abort", () => stop(String(signalled.signal.reason)));
    // etcd exits once it learns it was removed from the cluster.
    whenRemoved.then(() => setTimeout(() => stop("removed from the cluster, shutting down"), 500));
  });
}
