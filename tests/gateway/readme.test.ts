/**
 * The README's curl walkthrough, executed line by line with the real curl against a fresh
 * etcdts (127.0.0.1:2379 replaced by the test server), so the documentation stays true.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanup, ROOT, type ServerProcess, startServer } from "../harness.ts";

/** The shell lines between the walkthrough markers. */
function walkthrough(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const block = readme.split("<!-- curl-walkthrough -->")[1]?.split("<!-- /curl-walkthrough -->")[0] ?? "";
  return block.split("\n").filter((l) => l.startsWith("curl") || l.startsWith("timeout"));
}

describe("README curl walkthrough", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer("etcdts");
  });
  afterAll(cleanup);

  test("every line runs and answers what the comment says", async () => {
    const lines = walkthrough();
    expect(lines.length).toBeGreaterThanOrEqual(10);
    const out: string[] = [];
    for (const line of lines) {
      const cmd = line.replaceAll("127.0.0.1:2379", server.endpoint);
      const p = Bun.spawnSync(["bash", "-c", cmd]);
      const stdout = p.stdout.toString();
      // `timeout` ends the endless watch stream on purpose (exit 124).
      expect(`${line}\n→ exit ${p.exitCode === 124 ? 0 : p.exitCode}`).toBe(`${line}\n→ exit 0`);
      expect(stdout).not.toContain('"error"');
      out.push(stdout);
    }
    const [put, get, prefix, txn, del, members, status, watch, health, readyz, metrics, h2c] = out;
    expect(JSON.parse(put).header.revision).toBe("2");
    expect(JSON.parse(get).kvs[0].value).toBe("YmFy");
    expect(JSON.parse(prefix).count).toBe("1");
    expect(JSON.parse(txn).succeeded).toBe(true);
    expect(JSON.parse(del).prev_kvs[0].value).toBe("YmF6");
    expect(JSON.parse(members).members).toHaveLength(1);
    expect(JSON.parse(status).leader).toBe(JSON.parse(members).members[0].ID);
    const events = watch.trim().split("\n").map((l) => JSON.parse(l).result);
    expect(events[0].created).toBe(true);
    expect(events[1].events.map((e: { type?: string }) => e.type ?? "PUT")).toEqual(["PUT", "PUT", "DELETE"]);
    expect(health).toBe('{"health":"true"}');
    expect(readyz).toContain("[+]linearizable_read ok\n");
    expect(metrics).toBe("etcd_server_has_leader 1\n");
    expect(JSON.parse(h2c).header.revision).toBe(JSON.parse(del).header.revision);
  });
});
