/**
 * --metrics on real processes, against etcdts and etcd 3.4: "basic" (the default) leaves
 * gRPC latency histograms out of /metrics, "extensive" adds grpc_server_handling_seconds.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, etcdctl, startServer } from "../harness.ts";

afterAll(cleanup);

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind}: --metrics`, () => {
    for (const level of ["basic", "extensive"]) {
      test(`--metrics=${level}`, async () => {
        const server = await startServer(kind, { extraArgs: [`--metrics=${level}`] });
        expect((await etcdctl(server.endpoint, ["put", "k", "v"])).code).toBe(0);
        const text = await (await fetch(`${server.clientUrl}/metrics`)).text();
        const bucket = text.split("\n").find((l) =>
          l.startsWith("grpc_server_handling_seconds_bucket{") && l.includes('grpc_method="Put"') &&
          l.includes('le="+Inf"')
        );
        if (level === "basic") {
          expect(text).not.toContain("grpc_server_handling_seconds");
        } else {
          expect(text).toContain("# TYPE grpc_server_handling_seconds histogram");
          expect(bucket).toContain('grpc_service="etcdserverpb.KV"');
          expect(bucket).toContain('grpc_type="unary"');
          expect(Number(bucket!.split(" ")[1])).toBeGreaterThanOrEqual(1);
        }
      });
    }
  });
}
