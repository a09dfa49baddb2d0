/**
 * `snapshot save|status|restore` (etcdctl 3.4's snapshot_command.go and v3_snapshot.go).
 * save streams Maintenance.Snapshot into `<file>.part`, checks the trailing checksum is
 * there, fsyncs and renames; status and restore read etcd's snapshot format (a bbolt
 * backend followed by its sha256; a bare backend with --skip-hash-check; etcdts's older
 * SQLite snapshots too) and refuse a corrupted or truncated file.
 * Progress lines go to stderr in zap's JSON shape, as etcdctl 3.4 logs them (its client's
 * lines about the stream included).
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode, fail } from "./errors.ts";
import { clientSettings, newClient, printerFor } from "./global.ts";
import { humanizeBytes } from "./print/printer.ts";
import { rpcErrorText } from "./rpc_error.ts";

/** A zap production log line (etcdctl's snapshot manager logs through one: epoch-seconds ts). */
function zapLine(ctx: RunContext, caller: string, msg: string, fields: Record<string, unknown> = {}): void {
  ctx.io.stderr.write(
    JSON.stringify({ level: "info", ts: Date.now() / 1000, caller, msg, ...fields }) + "\n",
  );
}

/** A line of etcdctl's client logger (clientv3/maintenance.go): the same shape, an ISO-8601 ts. */
function clientLine(ctx: RunContext, level: "info" | "warn", caller: string, msg: string, fields = {}): void {
  ctx.io.stderr.write(JSON.stringify({ level, ts: new Date().toISOString(), caller, msg, ...fields }) + "\n");
}

const SNAPSHOT = "/etcdserverpb.Maintenance/Snapshot";

async function saveRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "snapshot save expects one argument");
  const { settings } = await clientSettings(ctx);
  const file = args[0];
  const fail5 = (msg: string): never => {
    throw new CliError(ExitCode.Interrupted, msg);
  };
  if (settings.endpoints.length !== 1) {
    fail5(`snapshot must be requested to one selected node, not multiple [${settings.endpoints.join(" ")}]`);
  }
  const fs = await import("node:fs");
  const { fromBinary } = await import("@bufbuild/protobuf");
  const { SnapshotResponseSchema } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const { hasChecksum } = await import("../store/snapshot_file.ts");
  const part = `${file}.part`;
  // The client first (a failed login ends the command before any file), as etcdctl does.
  const client = await newClient(settings).catch((e) => fail5(e instanceof CliError ? e.message : String(e)));
  let fd: number;
  try {
    fd = fs.openSync(part, "w", 0o600);
  } catch (e) {
    client.close();
    return fail5(`could not open ${part} (${(e as Error).message})`);
  }
  zapLine(ctx, "snapshot/v3_snapshot.go:119", "created temporary db file", { path: part });
  try {
    const started = performance.now();
    // No deadline unless --command-timeout is given, as in etcdctl.
    const timeoutMs = ctx.flags.changed.has("command-timeout")
      ? ctx.flags.values.get("command-timeout") as number
      : undefined;
    clientLine(ctx, "info", "clientv3/maintenance.go:200", "opened snapshot stream; downloading");
    zapLine(ctx, "snapshot/v3_snapshot.go:127", "fetching snapshot", { endpoint: settings.endpoints[0] });
    let size = 0;
    // Each response is written as it arrives: the stream waits on the disk, not on memory.
    const write = (bytes: Uint8Array) => {
      const { blob } = fromBinary(SnapshotResponseSchema, bytes);
      fs.writeSync(fd, blob);
      size += blob.length;
    };
    try {
      await client.serverStreamBytes(SNAPSHOT, new Uint8Array(0), write, { timeoutMs });
    } catch (e) {
      clientLine(
        ctx,
        "warn",
        "clientv3/maintenance.go:211",
        "failed to receive from snapshot stream; closing",
        {
          error: (e as Error).message,
        },
      );
      return fail5(rpcErrorText(e));
    }
    clientLine(ctx, "info", "clientv3/maintenance.go:208", "completed snapshot read; closing");
    if (!hasChecksum(size)) fail5(`sha256 checksum not found [bytes: ${size}]`);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    zapLine(ctx, "snapshot/v3_snapshot.go:142", "fetched snapshot", {
      endpoint: settings.endpoints[0],
      size: humanizeBytes(size),
      took: (performance.now() - started) / 1000,
    });
    try {
      fs.renameSync(part, file);
    } catch (e) {
      fail5(`could not rename ${part} to ${file} (${(e as Error).message})`);
    }
    zapLine(ctx, "snapshot/v3_snapshot.go:152", "saved", { path: file });
  } finally {
    if (fd !== -1) fs.closeSync(fd);
    fs.rmSync(part, { force: true });
    client.close();
  }
  ctx.io.stdout.write(`Snapshot saved at ${file}\n`);
  return ExitCode.Success;
}

async function statusRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "snapshot status requires exactly one argument");
  const printer = await printerFor(ctx);
  const { snapshotStatus } = await import("../store/snapshot_file.ts");
  const { printDbStatus } = await import("./print/maintenance.ts");
  const status = snapshotStatus(args[0]);
  if (status instanceof Error) fail(ExitCode.Error, status.message);
  printDbStatus(printer.format, { stdout: ctx.io.stdout, stderr: ctx.io.stderr }, status);
  return ExitCode.Success;
}

async function restoreRun(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) fail(ExitCode.BadArgs, "snapshot restore requires exactly one argument");
  const path = await import("node:path");
  const v = (name: string) => ctx.flags.values.get(name) as string;
  const name = v("name");
  const dataDir = v("data-dir") || `${name}.etcd`;
  const walDir = v("wal-dir") || path.join(dataDir, "member", "wal");
  // The new membership is checked as `etcdts serve` will check it when it bootstraps.
  const { parseServerArgs } = await import("../server/config.ts");
  const parsed = parseServerArgs([
    "--name",
    name,
    "--initial-cluster",
    v("initial-cluster"),
    "--initial-cluster-token",
    v("initial-cluster-token"),
    "--initial-advertise-peer-urls",
    v("initial-advertise-peer-urls"),
  ], {});
  if (parsed.kind === "error") fail(ExitCode.Error, parsed.message);
  if (parsed.kind !== "config") fail(ExitCode.Error, "invalid restore configuration");
  const { restoreSnapshot } = await import("../store/restore.ts");
  const { idHex } = await import("../lib/ids.ts");
  const snapDir = path.join(dataDir, "member", "snap");
  const where = { path: args[0], "wal-dir": walDir, "data-dir": dataDir, "snap-dir": snapDir };
  zapLine(ctx, "snapshot/v3_snapshot.go:296", "restoring snapshot", where);
  const restored = await restoreSnapshot({
    snapshotPath: args[0],
    dataDir,
    walDir: v("wal-dir") || undefined,
    skipHashCheck: ctx.flags.values.get("skip-hash-check") as boolean,
  });
  if (restored instanceof Error) fail(ExitCode.Error, restored.message);
  const { initialRoster, newClusterIds, writeBootstrapLog } = await import("../server/bootstrap_log.ts");
  const roster = initialRoster(parsed.config);
  const ids = newClusterIds(roster, name);
  // As etcd's restore writes a WAL: the data dir then starts as this member of that cluster
  // without cluster flags.
  try {
    writeBootstrapLog(restored.walDir, roster, ids);
  } catch (e) {
    const fs = await import("node:fs");
    for (const dir of [dataDir, restored.walDir]) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // What could not be made cannot be removed either (a wal-dir under a file).
      }
    }
    fail(ExitCode.Error, `snapshot ${args[0]} cannot be restored: ${(e as Error).message}`);
  }
  for (const m of roster) {
    zapLine(ctx, "membership/cluster.go:392", "added member", {
      "cluster-id": idHex(ids.clusterId),
      "local-member-id": "0",
      "added-peer-id": idHex(m.id),
      "added-peer-peer-urls": m.peerUrls,
    });
  }
  zapLine(ctx, "snapshot/v3_snapshot.go:309", "restored snapshot", where);
  return ExitCode.Success;
}

export const snapshotCommand: Command = {
  use: "snapshot <subcommand>",
  short: "Manages etcd node snapshots",
  subcommands: [
    { use: "save <filename>", short: "Stores an etcd node backend snapshot to a given file", run: saveRun },
    {
      use: "restore <filename> [options]",
      short: "Restores an etcd member snapshot to an etcd directory",
      flags: [
        { name: "data-dir", kind: "string", def: "", usage: "Path to the data directory" },
        {
          name: "wal-dir",
          kind: "string",
          def: "",
          usage: "Path to the WAL directory (use --data-dir if none given)",
        },
        {
          name: "initial-cluster",
          kind: "string",
          def: "default=http://localhost:2380",
          usage: "Initial cluster configuration for restore bootstrap",
        },
        {
          name: "initial-cluster-token",
          kind: "string",
          def: "etcd-cluster",
          usage: "Initial cluster token for the etcd cluster during restore bootstrap",
        },
        {
          name: "initial-advertise-peer-urls",
          kind: "string",
          def: "http://localhost:2380",
          usage: "List of this member's peer URLs to advertise to the rest of the cluster",
        },
        { name: "name", kind: "string", def: "default", usage: "Human-readable name for this member" },
        {
          name: "skip-hash-check",
          kind: "bool",
          def: false,
          usage: "Ignore snapshot integrity hash value (required if copied from data directory)",
        },
      ],
      run: restoreRun,
    },
    {
      use: "status <filename>",
      short: "Gets backend snapshot status of a given file",
      long:
        `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are hash, revision, total keys, total size.
`,
      run: statusRun,
    },
  ],
};
