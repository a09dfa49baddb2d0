/**
 * JSON gateway conformance: the same HTTP requests against etcdts and the real etcd 3.4,
 * asserting etcd's JSON (proto field names, int64 as strings, bytes as base64, omitted
 * defaults, `{"error","message","code"}` errors, NDJSON watch streams); at the end the two
 * transcripts, with IDs normalised, must be byte-identical.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, type ServerProcess, startServer } from "../harness.ts";
import { type Answer, b64, normalise, post, sameTranscripts, streamLines, type Transcripts } from "./http.ts";

const targets = CONFORMANCE_TARGETS;
/** Per target: step name → normalised answer. */
const transcripts: Transcripts = new Map();

for (const kind of targets) {
  describe(`JSON gateway against ${kind}`, () => {
    let server: ServerProcess;
    let ids: { member: string; cluster: string };
    const seen = new Map<string, string>();
    transcripts.set(kind, seen);

    /** POSTs, records the normalised answer for the cross-check, returns it parsed. */
    async function step(name: string, path: string, body: unknown): Promise<Answer & { json: any }> {
      const a = await post(server.clientUrl + path, body);
      seen.set(name, `${a.status} ${normalise(a.body, ids)}`);
      let json: any = null;
      try {
        json = JSON.parse(a.body);
      } catch {
        // plain-text answers (404, 405)
      }
      return { ...a, json };
    }

    beforeAll(async () => {
      server = await startServer(kind);
      const r = JSON.parse((await post(`${server.clientUrl}/v3/kv/range`, { key: b64("x") })).body);
      ids = { member: r.header.member_id, cluster: r.header.cluster_id };
    });
    afterAll(cleanup);

    test("put and range: proto names, int64 strings, base64 bytes, defaults omitted", async () => {
      const p = await step("put", "/v3/kv/put", { key: b64("foo"), value: b64("bar") });
      expect(p.status).toBe(200);
      expect(p.json).toEqual({
        header: {
          cluster_id: ids.cluster,
          member_id: ids.member,
          revision: "2",
          raft_term: expect.any(String),
        },
      });
      const g = await step("range", "/v3/kv/range", { key: b64("foo") });
      expect(g.json.kvs).toEqual([
        { key: b64("foo"), create_revision: "2", mod_revision: "2", version: "1", value: b64("bar") },
      ]);
      expect(g.json.count).toBe("1");
      expect("more" in g.json).toBe(false);
    });

    test("range options: prefix, sort, limit, keys_only, count_only; camelCase names accepted too", async () => {
      for (const k of ["p/a", "p/b", "p/c"]) {
        await post(server.clientUrl + "/v3/kv/put", { key: b64(k), value: b64(k) });
      }
      const desc = await step("range-sorted", "/v3/kv/range", {
        key: b64("p/"),
        range_end: b64("p0"),
        sort_order: "DESCEND",
        sort_target: "KEY",
        limit: 2,
        keys_only: true,
      });
      expect(desc.json.kvs.map((kv: { key: string }) => kv.key)).toEqual([b64("p/c"), b64("p/b")]);
      expect(desc.json.more).toBe(true);
      expect(desc.json.count).toBe("3");
      const count = await step("range-count", "/v3/kv/range", {
        key: b64("p/"),
        rangeEnd: b64("p0"),
        countOnly: true,
      });
      expect(count.json.count).toBe("3");
      expect(count.json.kvs).toBeUndefined();
    });

    test("put with prev_kv; unknown fields are ignored", async () => {
      const r = await step("put-prev", "/v3/kv/put", {
        key: b64("foo"),
        value: b64("baz"),
        prev_kv: true,
        nope: 1,
      });
      expect(r.json.prev_kv.value).toBe(b64("bar"));
    });

    test("errors: etcd's message and gRPC code, HTTP status from the code", async () => {
      const empty = await step("put-empty-key", "/v3/kv/put", {});
      expect(empty.status).toBe(400);
      expect(empty.json).toEqual({
        error: "etcdserver: key is not provided",
        message: "etcdserver: key is not provided",
        code: 3,
      });
      const garbage = await step("garbage", "/v3/kv/range", "garbage");
      expect(garbage.status).toBe(400);
      expect(garbage.json.code).toBe(3);
      expect(garbage.json.message).toBe("invalid character 'g' looking for beginning of value");
      const noBody = await step("range-no-body", "/v3/kv/range", "");
      expect(noBody.json.message).toBe("etcdserver: key is not provided");
    });

    test("txn with compares, nested responses", async () => {
      const t = await step("txn", "/v3/kv/txn", {
        compare: [{ key: b64("foo"), target: "VALUE", result: "EQUAL", value: b64("baz") }],
        success: [{ request_put: { key: b64("t"), value: b64("1") } }, {
          request_range: { key: b64("foo") },
        }],
        failure: [],
      });
      expect(t.status).toBe(200);
      expect(t.json.succeeded).toBe(true);
      expect(t.json.responses[1].response_range.kvs[0].value).toBe(b64("baz"));
      const f = await step("txn-fail", "/v3/kv/txn", {
        compare: [{ key: b64("foo"), target: "VERSION", result: "EQUAL", version: "7" }],
        failure: [{ request_delete_range: { key: b64("t"), prev_kv: true } }],
      });
      expect(f.json.succeeded).toBeUndefined();
      expect(f.json.responses[0].response_delete_range.deleted).toBe("1");
    });

    test("deleterange with prev_kv, then compaction and a compacted read", async () => {
      const d = await step("delete", "/v3/kv/deleterange", {
        key: b64("p/"),
        range_end: b64("p0"),
        prev_kv: true,
      });
      expect(d.json.deleted).toBe("3");
      expect(d.json.prev_kvs).toHaveLength(3);
      const c = await step("compact", "/v3/kv/compaction", { revision: "3" });
      expect(c.status).toBe(200);
      const old = await step("compacted-read", "/v3/kv/range", { key: b64("foo"), revision: 2 });
      expect(old.status).toBe(400);
      expect(old.json).toMatchObject({
        code: 11,
        message: "etcdserver: mvcc: required revision has been compacted",
      });
    });

    test("/v3beta/ answers like /v3/; unknown routes 404, GET 405", async () => {
      const beta = await step("v3beta", "/v3beta/kv/range", { key: b64("foo") });
      expect(beta.json.kvs[0].value).toBe(b64("baz"));
      const nope = await step("unknown-route", "/v3/kv/nope", {});
      expect(nope.status).toBe(404);
      const get = await fetch(`${server.clientUrl}/v3/kv/range`);
      expect(get.status).toBe(405);
      expect(await get.text()).toBe("Method Not Allowed\n");
    });

    test("/v3alpha/ is gone in 3.4: Go's 404; preflights answer 200 on any path", async () => {
      const alpha = await step("v3alpha", "/v3alpha/kv/range", { key: b64("foo") });
      expect(alpha.status).toBe(404);
      expect(alpha.body).toBe("404 page not found\n");
      for (const path of ["/v3alpha/kv/range", "/v3/kv/nope", "/nope"]) {
        const r = await fetch(server.clientUrl + path, { method: "OPTIONS" });
        seen.set(
          `options ${path}`,
          `${r.status} ${await r.text()} ${r.headers.get("access-control-allow-origin")}`,
        );
        expect(r.status).toBe(200);
      }
    });

    test("bodies are read like Go's json.Decoder: the first value counts", async () => {
      const trailing = await step("trailing-garbage", "/v3/kv/range", `{"key":"${b64("foo")}"} garbage`);
      expect(trailing.status).toBe(200);
      expect(trailing.json.kvs[0].value).toBe(b64("baz"));
      const truncated = await step("truncated", "/v3/kv/range", `{"key":"${b64("foo")}"`);
      expect(truncated.status).toBe(400);
      expect(truncated.json.message).toBe("unexpected EOF");
      // a bidi stream's first request that does not parse is a plain error, code Unknown
      const watch = await step("watch-garbage", "/v3/watch", "garbage");
      expect(watch.status).toBe(500);
      expect(watch.json).toMatchObject({
        code: 2,
        message: "invalid character 'g' looking for beginning of value",
      });
    });

    test('watch streams newline-delimited {"result":…} objects', async () => {
      const w = await streamLines(server.clientUrl + "/v3/watch", {
        create_request: { key: b64("foo"), start_revision: 4 },
      }, 2);
      expect(w.status).toBe(200);
      const [created, events] = w.lines.map((l) => JSON.parse(l));
      expect(created.result.created).toBe(true);
      expect(events.result.events[0].kv.value).toBe(b64("baz"));
      seen.set("watch", w.lines.map((l) => normalise(l, ids)).join("\n"));
      const gone = await streamLines(server.clientUrl + "/v3/watch", {
        create_request: { key: b64("foo"), start_revision: 1 },
      }, 2);
      const canceled = JSON.parse(gone.lines[1]).result;
      expect(canceled).toMatchObject({ canceled: true, compact_revision: "3" });
      seen.set("watch-compacted", gone.lines.map((l) => normalise(l, ids)).join("\n"));
    });

    test("live watch: a put made after the watch starts arrives", async () => {
      const pending = streamLines(
        server.clientUrl + "/v3/watch",
        { create_request: { key: b64("live") } },
        2,
      );
      await Bun.sleep(300);
      await post(server.clientUrl + "/v3/kv/put", { key: b64("live"), value: b64("1") });
      const w = await pending;
      expect(JSON.parse(w.lines[1]).result.events[0].kv.key).toBe(b64("live"));
    });

    test("cluster and maintenance", async () => {
      const m = await step("member-list", "/v3/cluster/member/list", {});
      expect(m.json.members[0].ID).toBe(ids.member);
      expect(m.json.members[0].clientURLs).toEqual([server.clientUrl]);
      const s = (await post(server.clientUrl + "/v3/maintenance/status", {})).body;
      const status = JSON.parse(s);
      expect(status.leader).toBe(ids.member);
      expect(typeof status.dbSize).toBe("string");
      const h = JSON.parse((await post(server.clientUrl + "/v3/maintenance/hash", {})).body);
      expect(typeof h.hash).toBe("number");
    });

    test("/health and /version", async () => {
      const h = await fetch(`${server.clientUrl}/health`);
      expect(h.status).toBe(200);
      expect(await h.json()).toEqual({ health: "true" });
      const v = await (await fetch(`${server.clientUrl}/version`)).json() as Record<string, string>;
      expect(Object.keys(v)).toEqual(["etcdserver", "etcdcluster"]);
    });
  });
}

sameTranscripts("etcdts and etcd answer every recorded step byte for byte (IDs normalised)", transcripts);
