/**
 * Watchers on one key through grpc-proxy share one upstream watcher (etcd's
 * watch_broadcast): the member's etcd_debugging_mvcc_watcher_total stays at 1 while every
 * client watcher gets each event under its own watch ID, and a cancelled one stops alone.
 * Our proxy over etcdts and over etcd, and etcd's own proxy over etcd.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Client } from "../../client/client.ts";
import type { BidiStream } from "../../client/client.ts";
import { KV, Watch, type WatchResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { WatchRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, haveRealEtcd, startServer, waitFor } from "../harness.ts";
import { startProxy } from "./proxy_process.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const WATCHERS = 8;

const SETUPS = [
  { name: "etcdts's proxy over etcdts", server: "etcdts" as const, proxy: "etcdts" as const },
  ...(haveRealEtcd()
    ? [
      { name: "etcd's proxy over etcd", server: "etcd" as const, proxy: "etcd" as const },
      { name: "etcdts's proxy over etcd", server: "etcd" as const, proxy: "etcdts" as const },
    ]
    : []),
];

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

describe.each(SETUPS)("$name", ({ server: serverKind, proxy: proxyKind }) => {
  test(`${WATCHERS} watchers on one key are one upstream watcher`, async () => {
    const server = await startServer(serverKind);
    const proxy = await startProxy(proxyKind, "grpc-proxy", ["--endpoints", server.endpoint]);
    const client = new Client({ endpoints: [proxy.endpoint] });
    const streams: BidiStream<MessageInitShape<typeof WatchRequestSchema>, WatchResponse>[] = [];
    for (let i = 0; i < WATCHERS; i++) {
      const s = client.service(Watch).watch();
      streams.push(s);
      await s.send({ requestUnion: { case: "createRequest", value: { key: enc("c") } } });
      const created = (await s.read())!;
      expect(created.created).toBe(true);
    }
    const upstreamWatchers = () => metric(`${server.clientUrl}/metrics`, "etcd_debugging_mvcc_watcher_total");
    // Ours shares one upstream watcher from the start; etcd 3.4's proxy joins a watcher to a
    // broadcast only when their revisions line up (its coalesce loop), so it ends with fewer
    // upstream watchers than clients but not always one.
    const coalesced = (n: number) => proxyKind === "etcdts" ? n === 1 : n < WATCHERS;
    await waitFor("the upstream watchers to coalesce", async () => coalesced(await upstreamWatchers()));
    if (proxyKind === "etcdts") {
      const own = await metric(
        `http://${proxy.endpoint}/proxy/metrics`,
        "etcd_grpc_proxy_watchers_coalescing_total",
      );
      expect(own).toBe(WATCHERS - 1);
    }
    const kv = client.service(KV);
    await kv.put({ key: enc("c"), value: enc("1") });
    for (const s of streams) {
      const r = (await s.read())!;
      expect(r.events.map((e) => [dec(e.kv!.key), dec(e.kv!.value)])).toEqual([["c", "1"]]);
      expect(r.watchId).toBe(0n);
    }
    // A second watcher on the first stream gets its own ID; cancelling the first ends only it.
    await streams[0].send({ requestUnion: { case: "createRequest", value: { key: enc("c") } } });
    const second = (await streams[0].read())!;
    expect(second.created).toBe(true);
    expect(second.watchId).toBe(1n);
    await streams[0].send({ requestUnion: { case: "cancelRequest", value: { watchId: 0n } } });
    const canceled = (await streams[0].read())!;
    expect(canceled).toMatchObject({ watchId: 0n, canceled: true });
    await kv.put({ key: enc("c"), value: enc("2") });
    const next = (await streams[0].read())!;
    expect(next.watchId).toBe(1n);
    expect(dec(next.events[0].kv!.value)).toBe("2");
    for (const s of streams.slice(1)) expect(dec((await s.read())!.events[0].kv!.value)).toBe("2");
    expect(coalesced(await upstreamWatchers())).toBe(true);
    for (const s of streams) s.cancel();
    // etcd 3.4's proxy keeps its upstream watcher after its clients are gone; ours drops it.
    if (proxyKind === "etcdts") {
      await waitFor(
        "the upstream watcher to go with the last client",
        async () => await upstreamWatchers() === 0,
      );
    }
    client.close();
  }, 30_000);
});
