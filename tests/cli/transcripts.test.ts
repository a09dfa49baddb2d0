/**
 * The transcript suite, run with our CLI and with the real etcdctl against one server.
 * The server is a fresh real etcd, or the endpoint in ETCDTS_TEST_ENDPOINT (e.g. our own
 * server, started by whoever runs the suite). Keys are wiped before each transcript.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "../../client/client.ts";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { type ServerUnderTest, startRealEtcd } from "./real_etcd.ts";
import { freePort } from "../harness.ts";
import { checkStep, type CliUnderTest, ourCli, realEtcdctl, serverVars } from "./runner.ts";
import { transcripts } from "./transcripts.ts";

let server: ServerUnderTest | undefined;
let endpoint = process.env.ETCDTS_TEST_ENDPOINT ?? "";
let down = "";

beforeAll(async () => {
  // (bun test's default 5s per test is too short for a suite of process spawns)
  if (endpoint === "") {
    server = await startRealEtcd();
    endpoint = server.endpoint;
  }
  down = `127.0.0.1:${await freePort()}`;
});
afterAll(() => server?.stop());

async function wipe(ep: string): Promise<void> {
  const c = new Client({ endpoints: [ep], callTimeoutMs: 5000 });
  try {
    await c.service(KV).deleteRange({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
  } finally {
    c.close();
  }
}

const clis: CliUnderTest[] = [ourCli(), realEtcdctl()];

for (const cli of clis) {
  describe(`transcripts with ${cli.name}`, () => {
    for (const t of transcripts) {
      test(t.name, async () => {
        await wipe(endpoint);
        const vars = await serverVars(endpoint, down, cli.ownVersion);
        const problems: string[] = [];
        for (const step of t.steps) problems.push(...(await checkStep(cli, step, vars)));
        expect(problems).toEqual([]);
      }, 60_000);
    }
  });
}
