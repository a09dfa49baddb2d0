/**
 * `make-mirror` (etcdctl's make_mirror_command.go): copy a keyspace (or a prefix) to another
 * cluster as of one revision, then follow it with a watch from the next revision, writing
 * each source revision as one destination txn so the mirror never shows half a revision.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import type { FlagSpec } from "../lib/pflag.ts";
import { clientSettings, flagValue, newClient } from "./global.ts";
import { utf8 } from "./gofmt.ts";
import { rpcErrorText } from "./rpc_error.ts";
import { prefixEnd } from "../api/keys.ts";
import { WatchMux } from "./watch.ts";

const mirrorFlags: FlagSpec[] = [
  { name: "prefix", kind: "string", def: "", usage: "Key-value prefix to mirror" },
  {
    name: "dest-prefix",
    kind: "string",
    def: "",
    usage: "destination prefix to mirror a prefix to a different prefix in the destination cluster",
  },
  {
    name: "no-dest-prefix",
    kind: "bool",
    def: false,
    usage: "mirror key-values to the root of the destination cluster",
  },
  {
    name: "dest-cert",
    kind: "string",
    def: "",
    usage: "Identify secure client using this TLS certificate file for the destination cluster",
  },
  { name: "dest-key", kind: "string", def: "", usage: "Identify secure client using this TLS key file" },
  {
    name: "dest-cacert",
    kind: "string",
    def: "",
    usage: "Verify certificates of TLS enabled secure servers using this CA bundle",
  },
  {
    name: "dest-insecure-transport",
    kind: "bool",
    def: true,
    usage: "Disable transport security for client connections",
  },
];

/** The make-mirror command. */
export const makeMirrorCommand: Command = {
  use: "make-mirror [options] <destination>",
  short: "Makes a mirror at the destination etcd cluster",
  flags: mirrorFlags,
  run: runMakeMirror,
};

/** clientv3/mirror's page size for the initial copy. */
const BATCH = 1000n;
const COMPACTED = "etcdserver: mvcc: required revision has been compacted";

async function runMakeMirror(ctx: RunContext, args: string[]): Promise<number> {
  if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "make-mirror takes one destination argument");
  const secureDest = ["dest-cert", "dest-key", "dest-cacert"].some((n) => flagValue<string>(ctx, n) !== "") ||
    !flagValue<boolean>(ctx, "dest-insecure-transport");
  if (secureDest) {
    throw new CliError(ExitCode.Error, "TLS client connections are not supported by etcdts yet");
  }
  const { settings } = await clientSettings(ctx);
  const pb = await import("../proto/gen/etcdserverpb/rpc_pb.ts");
  const source = await newClient(settings);
  const dest = await newClient({ ...settings, endpoints: [args[0]] });
  let total = 0;
  // etcdctl reports the count of mirrored changes every 30 s.
  const ticker = setInterval(() => ctx.io.stdout.write(`${total}\n`), 30_000);
  try {
    const src = source.service(pb.KV);
    const dst = dest.service(pb.KV);
    const prefix = flagValue<string>(ctx, "prefix");
    const rename = renamer(ctx, prefix);
    const rev = (await src.range({ key: utf8("foo") })).header!.revision;
    if (rename === null) {
      throw new CliError(
        ExitCode.BadArgs,
        "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
      );
    }
    // The copy as of `rev`, page by page.
    let key = prefix === "" ? new Uint8Array([0]) : utf8(prefix);
    const rangeEnd = prefix === "" ? new Uint8Array([0]) : prefixEnd(utf8(prefix));
    for (;;) {
      const page = await src.range({ key, rangeEnd, limit: BATCH, revision: rev });
      for (const kv of page.kvs) {
        await dst.put({ key: rename(kv.key), value: kv.value });
        total++;
      }
      if (!page.more || page.kvs.length === 0) break;
      key = Buffer.concat([page.kvs[page.kvs.length - 1].key, new Uint8Array([0])]);
    }
    // Then every later revision, as one txn each.
    const mux = new WatchMux(source);
    try {
      const watch = mux.watch({
        key: prefix === "" ? new Uint8Array([0]) : utf8(prefix),
        rangeEnd,
        startRevision: rev + 1n,
        prevKv: false,
        progressNotify: false,
      });
      for await (const r of watch) {
        if (r.compactRevision !== 0n) throw new CliError(ExitCode.Error, COMPACTED);
        const events = r.events ?? [];
        let i = 0;
        while (i < events.length) {
          const at = events[i].kv!.modRevision;
          const ops = [];
          for (; i < events.length && events[i].kv!.modRevision === at; i++) {
            const ev = events[i];
            ops.push(
              ev.type === 0
                ? {
                  request: {
                    case: "requestPut" as const,
                    value: { key: rename(ev.kv!.key), value: ev.kv!.value },
                  },
                }
                : { request: { case: "requestDeleteRange" as const, value: { key: rename(ev.kv!.key) } } },
            );
            total++;
          }
          await dst.txn({ success: ops });
        }
      }
    } finally {
      mux.close();
    }
    throw new CliError(ExitCode.Error, "<nil>");
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(ExitCode.Error, rpcErrorText(e));
  } finally {
    clearInterval(ticker);
    source.close();
    dest.close();
  }
}

/**
 * etcdctl's modifyPrefix: the first occurrence of --prefix in the key becomes the
 * destination prefix (--prefix itself by default, nothing with --no-dest-prefix). Null when
 * both destination flags are set.
 */
function renamer(ctx: RunContext, prefix: string): ((key: Uint8Array) => Uint8Array) | null {
  const noDest = flagValue<boolean>(ctx, "no-dest-prefix");
  let destPrefix = flagValue<string>(ctx, "dest-prefix");
  if (noDest && destPrefix.length > 0) return null;
  if (!noDest && destPrefix.length === 0) destPrefix = prefix;
  // Go strings are bytes: replace on a byte-for-byte (latin1) view.
  const from = Buffer.from(utf8(prefix)).toString("latin1");
  const to = Buffer.from(utf8(destPrefix)).toString("latin1");
  if (from === to) return (k) => k;
  return (k) => Buffer.from(Buffer.from(k).toString("latin1").replace(from, to), "latin1");
}
