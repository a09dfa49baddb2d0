/**
 * The HTTP face of the client port over HTTP/2, with the real curl: cleartext with prior
 * knowledge (h2c) and TLS with ALPN h2 (`--auto-tls`). Over TLS the real etcd 3.4 answers
 * too, and both must agree; over h2c etcd 3.4 resets every non-gRPC stream (its cmux hands
 * all of cleartext HTTP/2 to grpc-go), where etcdts answers like it does over HTTP/1.1.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, haveRealEtcd, type ServerProcess, startServer } from "../harness.ts";
import { b64, normalise, readLines, sameTranscripts, type Transcripts } from "./http.ts";

afterAll(cleanup);

interface CurlAnswer {
  readonly exit: number;
  readonly status: number;
  readonly version: string;
  readonly headers: readonly string[];
  readonly body: string;
  /** curl's own error line (-S), empty when it got an answer. */
  readonly error: string;
}

/** Runs curl once: `-D -` puts the header block first, `-w` the status and version last. */
async function curl(args: readonly string[]): Promise<CurlAnswer> {
  const proc = Bun.spawn(["curl", "-sS", "-D", "-", "-w", "\n@@%{http_code} %{http_version}", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, error, exit] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const at = out.lastIndexOf("\n@@");
  const [status, version] = out.slice(at + 3).split(" ");
  const end = out.indexOf("\r\n\r\n");
  const head = end < 0 ? "" : out.slice(0, end);
  const headers = head.split("\r\n").filter((l) => l.includes(":")).map((l) => l.toLowerCase());
  return {
    exit,
    status: Number(status),
    version,
    headers,
    body: out.slice(end < 0 ? 0 : end + 4, at),
    error,
  };
}

/** The first `n` lines of a streamed answer (a watch), then curl is stopped. */
async function curlLines(args: readonly string[], n: number): Promise<string[]> {
  const proc = Bun.spawn(["curl", "-sN", "--max-time", "10", ...args], { stdout: "pipe", stderr: "ignore" });
  const lines = await readLines(proc.stdout as ReadableStream<Uint8Array>, n);
  proc.kill();
  await proc.exited;
  return lines;
}

function postJson(body: unknown): string[] {
  return ["-X", "POST", "-d", JSON.stringify(body)];
}

describe("etcdts over h2c (curl --http2-prior-knowledge)", () => {
  const h2c = ["--http2-prior-knowledge"];
  let s: ServerProcess;

  test("every HTTP route answers as over HTTP/1.1", async () => {
    s = await startServer("etcdts");
    for (const path of ["/health", "/livez", "/readyz", "/version", "/ui", "/nope", "/v3alpha/kv/range"]) {
      const h1 = await curl(["--http1.1", s.clientUrl + path]);
      const h2 = await curl([...h2c, s.clientUrl + path]);
      expect(h2.version).toBe("2");
      expect(`${path} ${h2.status} ${h2.body}`).toBe(`${path} ${h1.status} ${h1.body}`);
      expect(h2.headers.filter((l) => !l.startsWith("date:"))).toEqual(
        h1.headers.filter((l) => !/^(date|connection|keep-alive|content-length|transfer-encoding):/.test(l)),
      );
    }
    const metrics = await curl([...h2c, s.clientUrl + "/metrics"]);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain("\netcd_server_has_leader 1\n");
  }, 30_000);

  test("the JSON gateway: unary calls, errors, preflights", async () => {
    const put = await curl([
      ...h2c,
      ...postJson({ key: b64("k"), value: b64("v") }),
      s.clientUrl + "/v3/kv/put",
    ]);
    expect(put.status).toBe(200);
    expect(put.headers).toContain("grpc-metadata-content-type: application/grpc");
    const get = await curl([...h2c, ...postJson({ key: b64("k") }), s.clientUrl + "/v3beta/kv/range"]);
    expect(JSON.parse(get.body).kvs[0].value).toBe(b64("v"));
    const bad = await curl([...h2c, ...postJson({}), s.clientUrl + "/v3/kv/put"]);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toBe("etcdserver: key is not provided");
    const options = await curl([...h2c, "-X", "OPTIONS", s.clientUrl + "/v3/kv/put"]);
    expect(options.status).toBe(200);
    expect(options.headers).toContain("access-control-allow-origin: *");
  });

  test("a watch streams its events and the call ends when curl hangs up", async () => {
    const created = { create_request: { key: b64("w"), start_revision: 1 } };
    await curl([...h2c, ...postJson({ key: b64("w"), value: b64("1") }), s.clientUrl + "/v3/kv/put"]);
    const lines = await curlLines([...h2c, ...postJson(created), s.clientUrl + "/v3/watch"], 2);
    expect(JSON.parse(lines[0]).result.created).toBe(true);
    expect(JSON.parse(lines[1]).result.events[0].kv.value).toBe(b64("1"));
    // a live one: the put comes after the watch started
    const live = curlLines([
      ...h2c,
      ...postJson({ create_request: { key: b64("live") } }),
      s.clientUrl + "/v3/watch",
    ], 2);
    await Bun.sleep(300);
    await curl([...h2c, ...postJson({ key: b64("live"), value: b64("2") }), s.clientUrl + "/v3/kv/put"]);
    expect(JSON.parse((await live)[1]).result.events[0].kv.value).toBe(b64("2"));
    // both hung-up watch calls ended (a call counts as handled when it ends)
    const ended = 'grpc_method="Watch",grpc_code="OK"} 2\n';
    for (let i = 0;; i++) {
      const m = (await curl([s.clientUrl + "/metrics"])).body;
      if (m.includes(ended) || i === 50) {
        expect(m).toContain(ended);
        break;
      }
      await Bun.sleep(100);
    }
  }, 30_000);
});

if (haveRealEtcd()) {
  test("etcd 3.4 resets non-gRPC streams over h2c (the difference is ours on purpose)", async () => {
    const s = await startServer("etcd");
    const r = await curl(["--http2-prior-knowledge", s.clientUrl + "/health"]);
    expect(r.exit).toBe(92); // HTTP/2 stream was not closed cleanly: PROTOCOL_ERROR
  }, 30_000);
}

/**
 * Header lines to compare: without date and length, a repeated field as one comma-joined
 * line (Go writes `Trailer` three times, a fetch Response joins them; the same list).
 */
function fieldLines(lines: readonly string[]): string[] {
  const fields = new Map<string, string[]>();
  for (const line of lines) {
    const at = line.indexOf(":");
    const name = line.slice(0, at);
    if (name === "date" || name === "content-length") continue;
    fields.set(name, [...(fields.get(name) ?? []), line.slice(at + 1).trim()]);
  }
  return [...fields].map(([name, values]) => `${name}: ${values.join(", ")}`).sort();
}

/** Per target: step → normalised answer, compared across targets at the end. */
const transcripts: Transcripts = new Map();

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind} over TLS with ALPN h2 (curl --http2 -k, --auto-tls)`, () => {
    const tls = ["--http2", "-k"];
    const seen = new Map<string, string>();
    transcripts.set(kind, seen);
    let s: ServerProcess;
    let ids: { member: string; cluster: string };

    /** Records status, headers (less date and length) and body; returns the answer. */
    async function step(name: string, path: string, args: readonly string[] = []): Promise<CurlAnswer> {
      const a = await curl([...tls, ...args, s.clientUrl + path]);
      // With curl's error, should it get no answer at all.
      expect({ version: a.version, error: a.error }).toEqual({ version: "2", error: "" });
      seen.set(name, `${a.status}\n${fieldLines(a.headers).join("\n")}\n${normalise(a.body, ids)}`);
      return a;
    }

    test("gateway, probes and errors answer over h2", async () => {
      s = await startServer(kind, { clientScheme: "https", extraArgs: ["--auto-tls"] });
      const first = await curl([...tls, ...postJson({ key: b64("x") }), s.clientUrl + "/v3/kv/range"]);
      const header = JSON.parse(first.body).header;
      ids = { member: header.member_id, cluster: header.cluster_id };
      expect((await step("put", "/v3/kv/put", postJson({ key: b64("k"), value: b64("v") }))).status).toBe(
        200,
      );
      const range = await step("range", "/v3/kv/range", postJson({ key: b64("k") }));
      expect(JSON.parse(range.body).kvs[0].value).toBe(b64("v"));
      expect((await step("put-empty", "/v3/kv/put", postJson({}))).status).toBe(400);
      expect((await step("unknown-route", "/v3/kv/nope", ["-X", "POST"])).status).toBe(404);
      expect((await step("v3alpha", "/v3alpha/kv/range", postJson({}))).status).toBe(404);
      expect((await step("health", "/health")).body).toBe('{"health":"true"}');
    }, 30_000);

    test("a watch streams over h2", async () => {
      const lines = await curlLines(
        [
          ...tls,
          ...postJson({ create_request: { key: b64("k"), start_revision: 1 } }),
          s.clientUrl + "/v3/watch",
        ],
        2,
      );
      seen.set("watch", lines.map((l) => normalise(l, ids)).join("\n"));
      expect(JSON.parse(lines[1]).result.events[0].kv.value).toBe(b64("v"));
    }, 30_000);
  });
}

sameTranscripts("over TLS h2, etcdts and etcd answer the same (status, headers, body)", transcripts);
