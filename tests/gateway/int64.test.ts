/**
 * 64-bit integers on the JSON gateway, against etcdts and the real etcd 3.4: clients such
 * as OpenStack's etcd3gw send IDs back as JSON numbers, and every route that carries an
 * ID, revision or member ID must read them exactly (a double would round an ID above 2^53
 * to a multiple of up to 1024 — another lease, or none). Bodies are written by hand:
 * JSON.stringify cannot write such numbers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanup, CONFORMANCE_TARGETS, type ServerProcess, startServer } from "../harness.ts";
import { b64, post, streamLines } from "./http.ts";

/** A lease ID no double holds: Number() of it is LEASE_NEAR. */
const LEASE = "7587899365453629445";
/** The double nearest LEASE, granted as a lease of its own: a rounded ID would name it. */
const LEASE_NEAR = BigInt(Number(LEASE)).toString();
const U64_MAX = "18446744073709551615";

for (const kind of CONFORMANCE_TARGETS) {
  describe(`gateway 64-bit integers against ${kind}`, () => {
    let server: ServerProcess;
    /** POSTs raw JSON text; returns the status and the parsed body (IDs stay strings). */
    const call = async (path: string, text: string) => {
      const a = await post(server.clientUrl + path, text);
      return { status: a.status, json: JSON.parse(a.body) };
    };

    beforeAll(async () => {
      server = await startServer(kind);
    });
    afterAll(cleanup);

    test("the ID rounding would hit is a different lease", () => {
      expect(LEASE_NEAR).not.toBe(LEASE);
    });

    test("lease grant, put, txn, time-to-live and keep-alive read an ID sent as a number exactly", async () => {
      for (const id of [LEASE_NEAR, LEASE]) {
        const g = await call("/v3/lease/grant", `{"TTL":600,"ID":${id}}`);
        expect(g.json.ID).toBe(id);
      }
      const put = await call("/v3/kv/put", `{"key":"${b64("a")}","value":"${b64("1")}","lease":${LEASE}}`);
      expect(put.status).toBe(200);
      const txn = await call(
        "/v3/kv/txn",
        `{"success":[{"request_put":{"key":"${b64("b")}","value":"${b64("2")}","lease":${LEASE}}}]}`,
      );
      expect(txn.json.succeeded).toBe(true);
      const range = await call("/v3/kv/range", `{"key":"${b64("a")}","range_end":"${b64("c")}"}`);
      expect(range.json.kvs.map((kv: { lease: string }) => kv.lease)).toEqual([LEASE, LEASE]);

      const ttl = await call("/v3/lease/timetolive", `{"ID":${LEASE},"keys":true}`);
      expect(ttl.json.ID).toBe(LEASE);
      // etcd 3.4 lists a lease's keys in Go map order (lease.Keys ranges over itemSet); ours are sorted.
      const keys = kind === "etcd" ? [...ttl.json.keys].sort() : ttl.json.keys;
      expect(keys).toEqual([b64("a"), b64("b")]);
      const near = await call("/v3/lease/timetolive", `{"ID":${LEASE_NEAR},"keys":true}`);
      expect(near.json.keys).toBeUndefined();

      const ka = await streamLines(server.clientUrl + "/v3/lease/keepalive", `{"ID":${LEASE}}`, 1);
      expect(JSON.parse(ka.lines[0]).result.ID).toBe(LEASE);
    });

    test("revoke by a number revokes that lease and no other", async () => {
      const r = await call("/v3/lease/revoke", `{"ID":${LEASE}}`);
      expect(r.status).toBe(200);
      expect((await call("/v3/lease/timetolive", `{"ID":${LEASE}}`)).json.TTL).toBe("-1");
      expect(Number((await call("/v3/lease/timetolive", `{"ID":${LEASE_NEAR}}`)).json.TTL)).toBeGreaterThan(
        0,
      );
      const gone = await call("/v3/kv/range", `{"key":"${b64("a")}","range_end":"${b64("c")}"}`);
      expect(gone.json.kvs).toBeUndefined();
    });

    test("revisions past 2^53 are read exactly", async () => {
      const r = await call("/v3/kv/range", `{"key":"${b64("a")}","revision":9007199254740993}`);
      expect(r.json.message).toBe("etcdserver: mvcc: required revision is a future revision");
      const c = await call("/v3/kv/compaction", `{"revision":"9007199254740993"}`);
      expect(c.json.message).toBe("etcdserver: mvcc: required revision is a future revision");
    });

    test("member IDs up to 2^64-1, as numbers and strings", async () => {
      for (const path of ["/v3/cluster/member/remove", "/v3/cluster/member/promote"]) {
        for (const id of [U64_MAX, `"${U64_MAX}"`]) {
          const r = await call(path, `{"ID":${id}}`);
          expect(r.json.message).toBe("etcdserver: member not found");
        }
      }
      const u = await call(
        "/v3/cluster/member/update",
        `{"ID":${U64_MAX},"peerURLs":["http://127.0.0.1:1"]}`,
      );
      expect(u.json.message).toBe("etcdserver: member not found");

      const on = await call(
        "/v3/maintenance/alarm",
        `{"action":"ACTIVATE","memberID":${U64_MAX},"alarm":"NOSPACE"}`,
      );
      expect(on.json.alarms).toEqual([{ memberID: U64_MAX, alarm: "NOSPACE" }]);
      await call("/v3/maintenance/alarm", `{"action":"DEACTIVATE","memberID":${U64_MAX},"alarm":"NOSPACE"}`);
      expect((await call("/v3/maintenance/alarm", `{"action":"GET"}`)).json.alarms).toBeUndefined();
    });

    test("a value outside the field's type gets Go's error", async () => {
      const cases: [string, string, string][] = [
        [
          "/v3/kv/put",
          `"lease":9223372036854775808`,
          "json: cannot unmarshal number 9223372036854775808 into Go value of type int64",
        ],
        [
          "/v3/kv/put",
          `"lease":"9223372036854775808"`,
          "json: cannot unmarshal number 9223372036854775808 into Go value of type int64",
        ],
        ["/v3/kv/put", `"lease":1.5`, "json: cannot unmarshal number 1.5 into Go value of type int64"],
        ["/v3/kv/put", `"lease":1e3`, "json: cannot unmarshal number 1e3 into Go value of type int64"],
        ["/v3/kv/put", `"lease":"abc"`, "invalid character 'a' looking for beginning of value"],
        ["/v3/kv/put", `"lease":"12x"`, "invalid character 'x' after top-level value"],
        ["/v3/kv/put", `"lease":""`, "unexpected end of JSON input"],
        ["/v3/kv/put", `"lease":true`, "json: cannot unmarshal bool into Go value of type int64"],
        [
          "/v3/kv/range",
          `"sort_order":"BAD"`,
          'unknown value "BAD" for enum etcdserverpb.RangeRequest_SortOrder',
        ],
        [
          "/v3/kv/range",
          `"sort_order":4294967296`,
          "json: cannot unmarshal number 4294967296 into Go value of type etcdserverpb.RangeRequest_SortOrder",
        ],
        [
          "/v3/cluster/member/remove",
          `"ID":18446744073709551616`,
          "json: cannot unmarshal number 18446744073709551616 into Go value of type uint64",
        ],
        [
          "/v3/cluster/member/remove",
          `"ID":-1`,
          "json: cannot unmarshal number -1 into Go value of type uint64",
        ],
      ];
      for (const [path, field, message] of cases) {
        const r = await call(path, `{"key":"${b64("a")}",${field}}`);
        expect({ field, status: r.status, json: r.json }).toEqual({
          field,
          status: 400,
          json: { error: message, message, code: 3 },
        });
      }
    });
  });
}
