/**
 * parseServerArgs for the operator flags of keepalive, logging, HTTP access and metrics:
 * values parsed as etcd parses them, refusals with etcd's messages or a reason.
 */
import { describe, expect, test } from "bun:test";
import { parseServerArgs } from "../../server/config.ts";

function config(args: string[]) {
  const r = parseServerArgs(args, {});
  if (r.kind !== "config") throw new Error(JSON.stringify(r));
  return r.config;
}

function error(args: string[]): string {
  const r = parseServerArgs(args, {});
  return r.kind === "error" ? r.message : `not an error: ${r.kind}`;
}

describe("operator flags", () => {
  test("keepalive durations, with etcd's defaults", () => {
    expect(config([]).grpcKeepalive).toEqual({ intervalMs: 7_200_000, timeoutMs: 20_000, minTimeMs: 5000 });
    expect(config(["--grpc-keepalive-interval=1m30s", "--grpc-keepalive-min-time=100ms"]).grpcKeepalive)
      .toEqual({ intervalMs: 90_000, timeoutMs: 20_000, minTimeMs: 100 });
    expect(error(["--grpc-keepalive-timeout=5"])).toBe(
      `invalid value "5" for flag -grpc-keepalive-timeout: parse error`,
    );
  });

  test("logging", () => {
    expect(config([]).logger).toBe("zap");
    expect(config(["--log-outputs=stdout,/tmp/a.log"]).logOutputs).toEqual(["stdout", "/tmp/a.log"]);
    const old = config(["--log-output=stdout"]);
    expect(old.logOutputs).toEqual(["stdout"]);
    expect(old.logWarnings[0]).toBe(`[WARNING] Deprecated '--log-output' flag is set to ["stdout"]`);
  });

  test("--cors takes URLs with a port, or *", () => {
    expect(config(["--cors=http://a.example:8080,http://b.example:80"]).cors).toEqual([
      "http://a.example:8080",
      "http://b.example:80",
    ]);
    expect(config(["--cors=*"]).cors).toEqual(["*"]);
    // "*" stands alone, as in etcd; a URL's scheme is compared lowercased.
    expect(error(["--cors=https://a.example:443,*"])).toBe(
      `invalid value "https://a.example:443,*" for flag -cors: URL scheme must be http, https, unix, or unixs: *`,
    );
    expect(config(["--cors=HTTP://a.example:80"]).cors).toEqual(["http://a.example:80"]);
    expect(error(["--cors=https://a.example"])).toBe(
      `invalid value "https://a.example" for flag -cors: URL address does not have the form "host:port": https://a.example`,
    );
    expect(config(["--host-whitelist=a,b"]).hostWhitelist).toEqual(["a", "b"]);
  });

  test("--experimental-warning-apply-duration and --metrics", () => {
    expect(config([]).warningApplyDurationMs).toBe(100);
    expect(config(["--experimental-warning-apply-duration=1ns"]).warningApplyDurationMs).toBe(1e-6);
    expect(config(["--metrics=extensive"]).metrics).toBe("extensive");
  });

  test("--enable-pprof is refused with the reason; false is fine", () => {
    expect(error(["--enable-pprof"])).toContain("Go's /debug/pprof profiles do not exist in a Bun process");
    expect(config(["--enable-pprof=false"]).name).toBe("default");
  });
});
