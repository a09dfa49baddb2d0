/**
 * put, get and del (etcdctl's put_command.go, get_command.go, del_command.go). The request
 * builders are shared with txn, which accepts the same commands line by line.
 */
import type { Command, RunContext } from "./command.ts";
import { CliError, ExitCode, fail } from "./errors.ts";
import type { FlagSpec, FlagValues } from "../lib/pflag.ts";
import { utf8 } from "./gofmt.ts";
import { parseGoInt64 } from "./gofmt.ts";
import { readAll } from "./io.ts";
import { runRpc } from "./rpc.ts";
import { show } from "./print/printer.ts";

// Plain request shapes: built without loading the generated code (startup cost).
export interface PutInit {
  key: Uint8Array;
  value: Uint8Array;
  lease: bigint;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}
export interface RangeInit {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  limit: bigint;
  revision: bigint;
  sortOrder: number;
  sortTarget: number;
  serializable: boolean;
  keysOnly: boolean;
  countOnly: boolean;
}
export interface DeleteInit {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  prevKv: boolean;
}

const putFlags: FlagSpec[] = [
  { name: "lease", kind: "string", def: "0", usage: "lease ID (in hexadecimal) to attach to the key" },
  {
    name: "prev-kv",
    kind: "bool",
    def: false,
    usage: "return the previous key-value pair before modification",
  },
  { name: "ignore-value", kind: "bool", def: false, usage: "updates the key using its current value" },
  { name: "ignore-lease", kind: "bool", def: false, usage: "updates the key using its current lease" },
];

const getFlags: FlagSpec[] = [
  { name: "consistency", kind: "string", def: "l", usage: "Linearizable(l) or Serializable(s)" },
  {
    name: "order",
    kind: "string",
    def: "",
    usage: "Order of results; ASCEND or DESCEND (ASCEND by default)",
  },
  { name: "sort-by", kind: "string", def: "", usage: "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION" },
  { name: "limit", kind: "int64", def: 0n, usage: "Maximum number of results" },
  { name: "prefix", kind: "bool", def: false, usage: "Get keys with matching prefix" },
  {
    name: "from-key",
    kind: "bool",
    def: false,
    usage: "Get keys that are greater than or equal to the given key using byte compare",
  },
  { name: "rev", kind: "int64", def: 0n, usage: "Specify the kv revision" },
  { name: "keys-only", kind: "bool", def: false, usage: "Get only the keys" },
  // etcdctl 3.5's flag, accepted but unlisted so help stays identical to 3.4's.
  { name: "count-only", kind: "bool", def: false, usage: "Get only the count", hidden: true },
  {
    name: "print-value-only",
    kind: "bool",
    def: false,
    usage: 'Only write values when using the "simple" output format',
  },
];

const delFlags: FlagSpec[] = [
  { name: "prefix", kind: "bool", def: false, usage: "delete keys with matching prefix" },
  { name: "prev-kv", kind: "bool", def: false, usage: "return deleted key-value pairs" },
  {
    name: "from-key",
    kind: "bool",
    def: false,
    usage: "delete keys that are greater than or equal to the given key using byte compare",
  },
];

const putLong = `
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
`;

function bool(f: FlagValues, name: string): boolean {
  return f.values.get(name) as boolean;
}

const putNeedsArgs = "put command needs 1 argument and input from stdin or 2 arguments";

/** etcdctl's getPutOp: the put request for args, reading the value from stdin if absent. */
export async function putRequest(
  args: string[],
  f: FlagValues,
  stdin: AsyncIterable<Uint8Array | string> | undefined,
): Promise<PutInit> {
  if (args.length === 0) fail(ExitCode.BadArgs, putNeedsArgs);
  const ignoreValue = bool(f, "ignore-value");
  if (ignoreValue && args.length > 1) {
    fail(ExitCode.BadArgs, "put command needs only 1 argument when 'ignore-value' is set");
  }
  let value: Uint8Array = new Uint8Array(0);
  if (!ignoreValue) {
    if (args.length > 1) value = utf8(args[1]);
    else {
      const all = stdin ? await readAll(stdin) : new Uint8Array(0);
      if (all.length === 0) fail(ExitCode.BadArgs, putNeedsArgs);
      value = all;
    }
  }
  const lease = parseGoInt64(f.values.get("lease") as string, 16);
  if (typeof lease !== "bigint") fail(ExitCode.BadArgs, `bad lease ID (${lease.error}), expecting ID in Hex`);
  return {
    key: utf8(args[0]),
    value,
    lease,
    prevKv: bool(f, "prev-kv"),
    ignoreValue,
    ignoreLease: bool(f, "ignore-lease"),
  };
}

const sortOrders: Record<string, number> = { "": 0, ASCEND: 1, DESCEND: 2 };
const sortTargets: Record<string, number> = { "": 0, KEY: 0, VERSION: 1, CREATE: 2, MODIFY: 3, VALUE: 4 };

/** clientv3.GetPrefixRangeEnd: the first key after every key with this prefix ("\0" if none). */
export function prefixRangeEnd(key: Uint8Array): Uint8Array {
  const end = Uint8Array.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

const fromKeyEnd = new Uint8Array([0]);

// The key range both get and del accept: key [range_end], or --prefix / --from-key.
function keyRange(args: string[], f: FlagValues): { key: Uint8Array; rangeEnd: Uint8Array } {
  const prefix = bool(f, "prefix");
  const fromKey = bool(f, "from-key");
  if (prefix && fromKey) {
    fail(ExitCode.BadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  }
  let key: Uint8Array = utf8(args[0]);
  let rangeEnd: Uint8Array = new Uint8Array(0);
  if (args.length > 1) {
    if (prefix || fromKey) {
      fail(
        ExitCode.BadArgs,
        "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
      );
    }
    rangeEnd = utf8(args[1]);
  }
  if (prefix) {
    if (key.length === 0) (key = fromKeyEnd), (rangeEnd = fromKeyEnd);
    else rangeEnd = prefixRangeEnd(key);
  }
  if (fromKey) {
    if (key.length === 0) key = fromKeyEnd;
    rangeEnd = fromKeyEnd;
  }
  return { key, rangeEnd };
}

/** etcdctl's getGetOp: the range request for args and flags. */
export function rangeRequest(args: string[], f: FlagValues): RangeInit {
  if (args.length === 0) {
    fail(ExitCode.BadArgs, "get command needs one argument as key and an optional argument as range_end");
  }
  if (bool(f, "prefix") && bool(f, "from-key")) {
    fail(ExitCode.BadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  }
  const consistency = f.values.get("consistency") as string;
  if (consistency !== "s" && consistency !== "l") {
    fail(ExitCode.BadFeature, `unknown consistency flag ${JSON.stringify(consistency)}`);
  }
  if (args.length > 1 && (bool(f, "prefix") || bool(f, "from-key"))) keyRange(args, f); // fails as etcdctl does
  const orderText = f.values.get("order") as string;
  const sortOrder = sortOrders[orderText.toUpperCase()];
  if (sortOrder === undefined) fail(ExitCode.BadFeature, `bad sort order ${orderText}`);
  const targetText = f.values.get("sort-by") as string;
  const sortTarget = sortTargets[targetText.toUpperCase()];
  if (sortTarget === undefined) fail(ExitCode.BadFeature, `bad sort target ${targetText}`);
  const { key, rangeEnd } = keyRange(args, f);
  if (bool(f, "keys-only") && bool(f, "count-only")) {
    fail(ExitCode.BadArgs, "`--keys-only` and `--count-only` cannot be set at the same time, choose one");
  }
  const rev = f.values.get("rev") as bigint;
  return {
    key,
    rangeEnd,
    limit: f.values.get("limit") as bigint,
    revision: rev > 0n ? rev : 0n,
    sortOrder,
    sortTarget,
    serializable: consistency === "s",
    keysOnly: bool(f, "keys-only"),
    countOnly: bool(f, "count-only"),
  };
}

/** etcdctl's getDelOp: the delete request for args and flags. */
export function deleteRequest(args: string[], f: FlagValues): DeleteInit {
  if (args.length === 0 || args.length > 2) {
    fail(ExitCode.BadArgs, "del command needs one argument as key and an optional argument as range_end");
  }
  return { ...keyRange(args, f), prevKv: bool(f, "prev-kv") };
}

async function putRun(ctx: RunContext, args: string[]): Promise<number> {
  const req = await putRequest(args, ctx.flags, ctx.io.stdin);
  const codec = await import("../wire/etcd.ts");
  return await runRpc(ctx, async ({ client, printer, out, callOpts }) => {
    const reply = await client.unaryBytes("/etcdserverpb.KV/Put", codec.encodePutRequest(req), callOpts);
    show(printer, "put", out, codec.decodePutResponse(reply));
  });
}

async function getRun(ctx: RunContext, args: string[]): Promise<number> {
  const req = rangeRequest(args, ctx.flags);
  const codec = await import("../wire/etcd.ts");
  return await runRpc(ctx, async ({ client, printer, out, callOpts }) => {
    const reply = await client.unaryBytes("/etcdserverpb.KV/Range", codec.encodeRangeRequest(req), {
      retryUnavailable: true,
      ...callOpts,
    });
    const resp = codec.decodeRangeResponse(reply);
    if (bool(ctx.flags, "count-only") && printer.format !== "fields") {
      throw new CliError(ExitCode.BadArgs, "--count-only is only for `--write-out=fields`");
    }
    const valueOnly = bool(ctx.flags, "print-value-only");
    if (valueOnly && printer.format !== "simple") {
      throw new CliError(ExitCode.BadArgs, "print-value-only is only for `--write-out=simple`");
    }
    show(printer, "get", out, resp, { valueOnly });
  });
}

async function delRun(ctx: RunContext, args: string[]): Promise<number> {
  const req = deleteRequest(args, ctx.flags);
  const codec = await import("../wire/etcd.ts");
  return await runRpc(ctx, async ({ client, printer, out, callOpts }) => {
    const reply = await client.unaryBytes(
      "/etcdserverpb.KV/DeleteRange",
      codec.encodeDeleteRangeRequest(req),
      callOpts,
    );
    show(printer, "del", out, codec.decodeDeleteRangeResponse(reply));
  });
}

/** The put command; txn reuses its flags. */
export const putCommand: Command = {
  use: "put [options] <key> <value> (<value> can also be given from stdin)",
  short: "Puts the given key into the store",
  long: putLong,
  flags: putFlags,
  run: putRun,
};

export const getCommand: Command = {
  use: "get [options] <key> [range_end]",
  short: "Gets the key or a range of keys",
  flags: getFlags,
  run: getRun,
};

export const delCommand: Command = {
  use: "del [options] <key> [range_end]",
  short: "Removes the specified key or range of keys [key, range_end)",
  flags: delFlags,
  run: delRun,
};
