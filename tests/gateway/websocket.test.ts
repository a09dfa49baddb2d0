/**
 * The gateway over WebSocket, as etcd 3.4's grpc-websocket-proxy serves it on /v3/ (and
 * /v3beta/): each message is one request, each response line one text message, and the
 * connection drops (1006) when the call ends. The same sessions run against etcdts and the
 * real etcd, and the transcripts must match.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, type ServerProcess, startServer } from "../harness.ts";
import { b64, normalise, post, sameTranscripts, type Transcripts } from "./http.ts";

afterAll(cleanup);

interface Session {
  /** The subprotocol the server chose, or the failed handshake's error. */
  readonly opened: string;
  readonly messages: string[];
  /** The close code, once closed. */
  readonly closed: Promise<number>;
  /** Resolves when `n` messages have arrived (or the socket closed first). */
  received(n: number): Promise<string[]>;
  close(): void;
}

/** Opens a WebSocket, sends `messages` once open; waits for the handshake's outcome. */
async function session(url: string, messages: readonly string[], protocols?: string[]): Promise<Session> {
  const ws = new WebSocket(url, protocols);
  const got: string[] = [];
  let wake: (() => void) | null = null;
  let closedCode = 0;
  const closed = new Promise<number>((resolve) =>
    ws.addEventListener("close", (e) => {
      closedCode = e.code;
      wake?.();
      resolve(e.code);
    })
  );
  ws.addEventListener("message", (e) => {
    got.push(String(e.data));
    wake?.();
  });
  const opened = await new Promise<string>((resolve) => {
    ws.addEventListener("open", () => resolve(`open ${JSON.stringify(ws.protocol)}`));
    ws.addEventListener("error", (e) => resolve(`refused: ${(e as ErrorEvent).message ?? "error"}`));
  });
  if (opened.startsWith("open")) { for (const m of messages) ws.send(m); }
  return {
    opened: opened.replace(/ws:\/\/127\.0\.0\.1:\d+/, "<url>"),
    messages: got,
    closed,
    async received(n) {
      const deadline = Date.now() + 10_000;
      while (got.length < n && closedCode === 0 && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
      return got.slice(0, n);
    },
    close: () => ws.close(),
  };
}

const transcripts: Transcripts = new Map();

for (const kind of CONFORMANCE_TARGETS) {
  describe(`WebSocket gateway against ${kind}`, () => {
    const seen = new Map<string, string>();
    transcripts.set(kind, seen);
    let s: ServerProcess;
    let ws: string;
    let ids: { member: string; cluster: string };

    /** Runs a session that ends by itself; records its handshake, messages and close code. */
    async function step(name: string, path: string, messages: readonly string[]): Promise<string[]> {
      const x = await session(ws + path, messages);
      const code = x.opened.startsWith("open") ? await x.closed : 0;
      seen.set(name, [x.opened, ...x.messages.map((m) => normalise(m, ids)), `close ${code}`].join("\n"));
      return x.messages;
    }

    test("a watch: messages are requests, lines come back as messages", async () => {
      s = await startServer(kind);
      ws = s.clientUrl.replace("http:", "ws:");
      const r = JSON.parse((await post(`${s.clientUrl}/v3/kv/range`, { key: b64("x") })).body);
      ids = { member: r.header.member_id, cluster: r.header.cluster_id };
      const w = await session(ws + "/v3/watch", [JSON.stringify({ create_request: { key: b64("w") } })]);
      expect(w.opened).toBe('open ""');
      expect(JSON.parse((await w.received(1))[0]).result.created).toBe(true);
      await post(`${s.clientUrl}/v3/kv/put`, { key: b64("w"), value: b64("1") });
      const [, event] = await w.received(2);
      expect(JSON.parse(event).result.events[0].kv.value).toBe(b64("1"));
      w.close();
      await w.closed;
      seen.set("watch", w.messages.map((m) => normalise(m, ids)).join("\n"));
    }, 30_000);

    test("a unary call answers once, then the connection drops", async () => {
      const [range] = await step("range", "/v3/kv/range", [JSON.stringify({ key: b64("w") })]);
      expect(JSON.parse(range).kvs[0].value).toBe(b64("1"));
      await step("range-beta", "/v3beta/kv/range", [JSON.stringify({ key: b64("w") }), "garbage"]);
      const [err] = await step("put-empty", "/v3/kv/put", ["{}"]);
      expect(JSON.parse(err).message).toBe("etcdserver: key is not provided");
      const [bad] = await step("watch-garbage", "/v3/watch", ["garbage"]);
      expect(JSON.parse(bad).code).toBe(2);
      expect(await step("unknown-route", "/v3/kv/nope", ["{}"])).toEqual(["Not Found"]);
    }, 30_000);

    test("only /v3/ and /v3beta/ upgrade; elsewhere the request is answered plainly", async () => {
      await step("v3alpha", "/v3alpha/watch", ["{}"]);
      await step("health", "/health", []);
      expect(seen.get("health")).toStartWith("refused");
      const offer = Bun.spawn([
        "curl",
        "-s",
        "--http2",
        "-d",
        JSON.stringify({ key: b64("w") }),
        `${s.clientUrl}/v3/kv/range`,
      ], {
        stdout: "pipe",
      });
      const answer = await new Response(offer.stdout).text();
      expect(JSON.parse(answer).kvs[0].value).toBe(b64("1"));
      seen.set("h2c-offer", normalise(answer, ids));
    }, 30_000);

    test("messages sent back to back, many to a socket read, are each answered", async () => {
      const grant = JSON.parse((await post(`${s.clientUrl}/v3/lease/grant`, { TTL: 60 })).body);
      const n = 500;
      const x = await session(ws + "/v3/lease/keepalive", Array(n).fill(JSON.stringify({ ID: grant.ID })));
      const got = await x.received(n);
      expect(got.length).toBe(n);
      for (const m of got) expect(JSON.parse(m).result).toMatchObject({ ID: grant.ID, TTL: "60" });
      x.close();
      await x.closed;
    }, 30_000);

    test(
      "a Bearer subprotocol is echoed and its token passed on as etcd does (which auth rejects)",
      async () => {
        for (
          const [path, body] of [
            ["/v3/auth/role/add", { name: "root" }],
            ["/v3/auth/user/add", { name: "root", password: "pw" }],
            ["/v3/auth/user/grant", { user: "root", role: "root" }],
            ["/v3/auth/enable", {}],
          ] as const
        ) expect((await post(s.clientUrl + path, body)).status).toBe(200);
        const auth = await post(s.clientUrl + "/v3/auth/authenticate", { name: "root", password: "pw" });
        const token: string = JSON.parse(auth.body).token;
        const plain = await post(s.clientUrl + "/v3/kv/range", { key: b64("w") }, { Authorization: token });
        expect(JSON.parse(plain.body).count).toBe("1");
        // grpc-websocket-proxy sends "Authorization: Bearer <token>"; etcd 3.4 takes the
        // whole value as the token, so a WebSocket call with auth on is refused.
        const x = await session(ws + "/v3/kv/range", [JSON.stringify({ key: b64("w") })], ["Bearer", token]);
        expect(x.opened).toBe('open "Bearer"');
        await x.closed;
        expect(JSON.parse(x.messages[0])).toMatchObject({
          code: 16,
          message: "etcdserver: invalid auth token",
        });
        seen.set("bearer", `${x.opened}\n${x.messages.join("\n")}`);
      },
      30_000,
    );
  });
}

sameTranscripts("over WebSocket, etcdts and etcd answer the same", transcripts);
