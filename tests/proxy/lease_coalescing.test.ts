/**
 * Keep-alives for one lease from many client streams at once through grpc-proxy: every
 * client gets its answer, and the proxy sends fewer upstream than it received.
 */
import { afterAll, expect, test } from "bun:test";
import { Client } from "../../client/client.ts";
import { Lease } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, startServer } from "../harness.ts";
import { startProxy } from "./proxy_process.ts";

afterAll(cleanup);

const STREAMS = 20;

test(`${STREAMS} streams keeping one lease alive share upstream keep-alives`, async () => {
  const server = await startServer("etcdts");
  const proxy = await startProxy("etcdts", "grpc-proxy", ["--endpoints", server.endpoint]);
  const client = new Client({ endpoints: [proxy.endpoint] });
  const lease = client.service(Lease);
  const { ID } = await lease.leaseGrant({ TTL: 30n });
  const streams = Array.from({ length: STREAMS }, () => lease.leaseKeepAlive());
  for (let round = 0; round < 3; round++) {
    await Promise.all(streams.map((s) => s.send({ ID })));
    for (const s of streams) expect(await s.read()).toMatchObject({ ID, TTL: 30n });
  }
  const metrics = await (await fetch(`http://${proxy.endpoint}/proxy/metrics`)).text();
  const coalesced = Number(/^etcdts_grpc_proxy_keepalives_coalescing_total (\d+)$/m.exec(metrics)![1]);
  expect(coalesced).toBeGreaterThan(0);
  expect(coalesced).toBeLessThan(3 * STREAMS);
  const missing = await lease.leaseKeepAlive();
  await missing.send({ ID: ID + 1n });
  expect((await missing.read())!.TTL).toBeLessThanOrEqual(0n);
  for (const s of [...streams, missing]) s.cancel();
  client.close();
});
