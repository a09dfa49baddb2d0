/**
 * `defrag [--cluster] [--data-dir dir]` (etcdctl's defrag_command.go): each endpoint is
 * defragmented in turn; `--data-dir` defragments the store of a stopped member directly.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import { clientSettings, commandTimeoutMs, newClient } from "./global.ts";
import { targetEndpoints } from "./endpoint.ts";
import { rpcErrorText } from "./rpc_error.ts";

async function defragRun(ctx: RunContext): Promise<number> {
  const dataDir = ctx.flags.values.get("data-dir") as string;
  if (dataDir !== "") return await defragOffline(dataDir);
  const { settings } = await clientSettings(ctx);
  const { Maintenance } = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  let failures = 0;
  for (const ep of await targetEndpoints(ctx, settings)) {
    const client = await newClient({ ...settings, endpoints: [ep] });
    try {
      await client.service(Maintenance).defragment({}, { timeoutMs: commandTimeoutMs(ctx) });
      ctx.io.stdout.write(`Finished defragmenting etcd member[${ep}]\n`);
    } catch (e) {
      ctx.io.stderr.write(`Failed to defragment etcd member[${ep}] (${rpcErrorText(e)})\n`);
      failures++;
    } finally {
      client.close();
    }
  }
  return failures === 0 ? ExitCode.Success : ExitCode.Error;
}

async function defragOffline(dataDir: string): Promise<number> {
  const path = await import("node:path");
  const fs = await import("node:fs");
  const { MvccStore } = await import("../store/mvcc.ts");
  const dbPath = path.join(dataDir, "member", "snap", "db");
  try {
    if (!fs.existsSync(dbPath)) throw new Error(`open ${dbPath}: no such file or directory`);
    const store = MvccStore.open(dbPath);
    try {
      store.vacuumFull();
    } finally {
      store.close();
    }
  } catch (e) {
    throw new CliError(
      ExitCode.Error,
      `Failed to defragment etcd data[${dataDir}] (${(e as Error).message})`,
      {
        raw: true,
      },
    );
  }
  return ExitCode.Success;
}

export const defragCommand: Command = {
  use: "defrag",
  short: "Defragments the storage of the etcd members with given endpoints",
  flags: [{
    name: "data-dir",
    kind: "string",
    def: "",
    usage: "Optional. If present, defragments a data directory not in use by etcd.",
  }],
  persistentFlags: [{
    name: "cluster",
    kind: "bool",
    def: false,
    usage: "use all endpoints from the cluster member list",
  }],
  run: defragRun,
};
