/**
 * --host-whitelist (DNS-rebinding protection) and --cors on real processes, the same test
 * against etcdts and etcd 3.4: a plain-HTTP request naming a host not allowed gets etcd's
 * 421 and its text on every HTTP path; CORS headers name only allowed origins.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { cleanup, CONFORMANCE_TARGETS, startServer } from "../harness.ts";

afterAll(cleanup);

/** One raw HTTP/1.1 request (fetch would not let a test pick the Host header). */
function rawRequest(endpoint: string, lines: string[]): Promise<string> {
  const [host, port] = endpoint.split(":");
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), host);
    let out = "";
    s.on("data", (d) => (out += d.toString()));
    s.on("end", () => resolve(out));
    s.on("error", reject);
    s.write([...lines, "Connection: close", "", ""].join("\r\n"));
  });
}

function statusOf(response: string): number {
  return Number(response.split(" ")[1]);
}

function headerOf(response: string, name: string): string | undefined {
  const head = response.split("\r\n\r\n")[0].split("\r\n");
  const line = head.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind}: HTTP access control`, () => {
    test("--host-whitelist: another Host gets 421 with etcd's text, on every path", async () => {
      const server = await startServer(kind, { extraArgs: ["--host-whitelist=127.0.0.1,etcd.example"] });
      for (const path of ["/health", "/version", "/metrics", "/v3/kv/range"]) {
        const bad = await rawRequest(server.endpoint, [`GET ${path} HTTP/1.1`, "Host: evil.example:2379"]);
        expect(statusOf(bad)).toBe(421);
        expect(headerOf(bad, "content-type")).toBe("text/plain; charset=utf-8");
        expect(bad).toContain("etcd received your request, but the Host header was unrecognized.");
        expect(bad).toContain(`  - e.g. etcd --host-whitelist "evil.example"`);
        expect(bad).toContain(`"DNS Rebinding" attacks (CVE-2018-5702).`);
      }
      const ok = await rawRequest(server.endpoint, ["GET /health HTTP/1.1", "Host: etcd.example:2379"]);
      expect(statusOf(ok)).toBe(200);
    });

    test("--cors: only an allowed origin is named; by default every origin is", async () => {
      const server = await startServer(kind, { extraArgs: ["--cors=http://a.example:8080"] });
      const preflight = (endpoint: string, origin: string) =>
        rawRequest(endpoint, ["OPTIONS /v3/kv/range HTTP/1.1", "Host: 127.0.0.1", `Origin: ${origin}`]);
      const pre = (origin: string) => preflight(server.endpoint, origin);
      const allowed = await pre("http://a.example:8080");
      expect(statusOf(allowed)).toBe(200);
      expect(headerOf(allowed, "access-control-allow-origin")).toBe("http://a.example:8080");
      expect(headerOf(allowed, "access-control-allow-methods")).toBe("POST, GET, OPTIONS, PUT, DELETE");
      const other = await pre("https://b.example");
      expect(statusOf(other)).toBe(200);
      expect(headerOf(other, "access-control-allow-origin")).toBeUndefined();

      const other2 = await pre("http://a.example");
      expect(headerOf(other2, "access-control-allow-origin")).toBeUndefined();

      // An origin is compared with the flag's text, a default port written out included.
      const port80 = await startServer(kind, { extraArgs: ["--cors=http://c.example:80"] });
      const at80 = (origin: string) => preflight(port80.endpoint, origin);
      expect(headerOf(await at80("http://c.example:80"), "access-control-allow-origin")).toBe(
        "http://c.example:80",
      );
      expect(headerOf(await at80("http://c.example"), "access-control-allow-origin")).toBeUndefined();

      const open = await startServer(kind);
      const any = await rawRequest(open.endpoint, [
        "GET /version HTTP/1.1",
        "Host: 127.0.0.1",
        "Origin: https://b.example",
      ]);
      expect(headerOf(any, "access-control-allow-origin")).toBe("*");
    });
  });
}
