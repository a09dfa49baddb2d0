/**
 * Micro-benchmark of the hand-written codecs on the hot paths, A/B between two source
 * trees (e.g. a checkout of the commit before a codec change, and this one) in one process,
 * so that both see the same machine load:
 *   bun bench/codec-ab.ts <root A> <root B>   → one JSON line: per case, ns/op of A and B
 * Each case alternates A and B in 25 ms slices, 12 slices each after a warm-up, and takes
 * each side's median slice. Run it several times (rounds) and compare the B/A ratios.
 */
import * as path from "node:path";

const roots = [path.resolve(process.argv[2] ?? "."), path.resolve(process.argv[3] ?? ".")];
const { create, toBinary } = await import("@bufbuild/protobuf");

async function casesOf(root: string): Promise<Record<string, () => unknown>> {
  const imp = (p: string) => import(path.join(root, p));
  // deno-lint-ignore no-explicit-any
  const firstOf = async (paths: string[]): Promise<any> => {
    for (const p of paths) {
      try {
        return await imp(p);
      } catch { /* the other tree's layout */ }
    }
    throw new Error(`none of ${paths.join(", ")} in ${root}`);
  };

  const rpc = await imp("proto/gen/etcdserverpb/rpc_pb.ts");
  const proposal = await imp("server/proposal_codec.ts");
  const fast = await imp("server/grpc/fast_codecs.ts");
  const raft = await imp("raft/codec.ts");
  const cli = await firstOf(["wire/etcd.ts", "cmd/kv_codec.ts"]);
  const kvc = await firstOf(["wire/etcd.ts", "api/keyvalue.ts"]);
  const encodePutReq = cli.encodePutRequest ?? cli.encodePut;
  const decodeRangeResp = cli.decodeRangeResponse ?? cli.decodeRange;

  const b = (s: string) => new TextEncoder().encode(s);
  const header = {
    clusterId: 0xbf9973fbc534d7bfn,
    memberId: 0x6fe13ed764fae1afn,
    revision: 123456n,
    raftTerm: 3n,
  };
  const putInit = {
    key: b("bench/key/000123"),
    value: new Uint8Array(256),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  };
  const put = create(rpc.PutRequestSchema, putInit);
  const putBytes = toBinary(rpc.PutRequestSchema, put);
  const putResp = create(rpc.PutResponseSchema, { header });
  const kvs = Array.from({ length: 100 }, (_, i) => ({
    key: b(`bench/key/${String(i).padStart(6, "0")}`),
    value: new Uint8Array(256),
    createRevision: 1000n + BigInt(i),
    modRevision: 2000n + BigInt(i),
    version: 1n,
    lease: 0n,
  }));
  const rangeResp = create(rpc.RangeResponseSchema, { header, kvs, count: 100n });
  const rangeBytes = toBinary(rpc.RangeResponseSchema, rangeResp);
  const encodePutResp = fast.fastEncoderFor(rpc.PutResponseSchema);
  const decodePut = fast.fastDecoderFor(rpc.PutRequestSchema);
  let id = 0x1234567890n;
  const proposalBytes = proposal.encodeProposal(proposal.putProposal(put), id);
  const msgApp = {
    type: 3,
    to: 0xfd422379fda50e48n,
    from: 0x8e9e05c52164694dn,
    term: 7,
    logTerm: 7,
    index: 100000,
    entries: Array.from(
      { length: 8 },
      (_, i) => ({ term: 7, index: 100001 + i, type: 0, data: proposalBytes }),
    ),
    commit: 99999,
    snapshot: null,
    reject: false,
    rejectHint: 0,
    context: null,
  };
  const msgBytes = raft.encodeMessage(msgApp);

  // The server's HTTP/2 connection on a fake socket: a unary call's HEADERS + DATA in,
  // response HEADERS + DATA + trailers out (flushed once per batch, as per event-loop turn).
  const frame = await firstOf(["h2/frame.ts", "lib/h2_frame.ts"]);
  const hpack = await firstOf(["h2/hpack.ts", "lib/hpack.ts"]);
  const { H2Connection } = await imp("server/h2/connection.ts");
  let feed: (chunk: Buffer) => void = () => {};
  const socket = {
    write: () => true,
    end() {},
    destroy() {},
    pause() {},
    on(ev: string, fn: (chunk: Buffer) => void) {
      if (ev === "data") feed = fn;
    },
  };
  const reply = new Uint8Array(64);
  new H2Connection(socket, {
    maxConcurrentStreams: 1 << 30,
    // deno-lint-ignore no-explicit-any
    onStream: (st: any) =>
      st.attach({
        onData() {},
        onEnd() {
          st.respond({ ":status": 200, "content-type": "application/grpc" });
          st.end(reply, { "grpc-status": "0" });
        },
        onClose() {},
      }),
  });
  feed(Buffer.concat([
    frame.CLIENT_PREFACE,
    frame.encodeFrame({ type: frame.SETTINGS, flags: 0, streamId: 0, payload: new Uint8Array(0) }),
  ]));
  const requestBlock = hpack.encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/etcdserverpb.KV/Put"],
    [":authority", "127.0.0.1:2379"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);
  const body = new Uint8Array(5 + putBytes.length);
  body.set(putBytes, 5);
  body[4] = putBytes.length;
  let streamId = 1;
  const h2Call = () => {
    const sid = streamId;
    streamId += 2;
    feed(Buffer.concat([
      frame.encodeFrame({ type: frame.HEADERS, flags: 4, streamId: sid, payload: requestBlock }),
      frame.encodeFrame({ type: frame.DATA, flags: 1, streamId: sid, payload: body }),
    ]));
  };

  return {
    "h2 server: unary call in and out (x50, one flush)": async () => {
      for (let i = 0; i < 50; i++) h2Call();
      await null;
    },
    "put request decode (server)": () => sink += decodePut(putBytes).key.length,
    "put proposal encode": () => sink += proposal.encodeProposal(proposal.putProposal(put), id++).length,
    "put proposal decode": () => sink += proposal.decodeProposal(proposalBytes).put.key.length,
    "request ID of proposal": () => sink += Number(proposal.requestIdOf(proposalBytes) & 1n),
    "put response encode": () => sink += encodePutResp(putResp).length,
    "range response (100 kvs) encode": () => sink += fast.rangeResponseFrame(rangeResp, 1 << 30).length,
    "keyvalue encode (hash)": () => sink += kvc.encodeKeyValue(kvs[7]).length,
    "CLI put request encode": () => sink += encodePutReq(putInit).length,
    "CLI range response (100 kvs) decode": () => sink += decodeRangeResp(rangeBytes).kvs.length,
    "raft MsgApp (8 entries) encode": () => sink += raft.encodeMessage(msgApp).length,
    "raft MsgApp (8 entries) decode": () => sink += raft.decodeMessage(msgBytes).entries.length,
  };
}

let sink = 0;
const [a, b] = [await casesOf(roots[0]), await casesOf(roots[1])];
const out: Record<string, [number, number]> = {};
const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1];

async function slice(fn: () => unknown, ms: number): Promise<number> {
  let n = 0;
  const start = Bun.nanoseconds();
  let now = start;
  const isAsync = fn() instanceof Promise;
  while (now - start < ms * 1e6) {
    if (isAsync) await fn();
    else for (let i = 0; i < 200; i++) fn();
    n += isAsync ? 1 : 200;
    now = Bun.nanoseconds();
  }
  return (now - start) / n;
}

for (const name of Object.keys(a)) {
  await slice(a[name], 100);
  await slice(b[name], 100);
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < 12; i++) {
    ta.push(await slice(a[name], 25));
    tb.push(await slice(b[name], 25));
  }
  out[name] = [median(ta), median(tb)];
}
console.log(JSON.stringify(out));
if (sink === -1) console.log(sink);
