/**
 * What a learner serves, as etcd's interceptors decide: Status and serializable Range;
 * everything else, unary or streaming, is refused with "etcdserver: rpc not supported for
 * learner" (the real etcdctl sees the same), and a client with other endpoints moves on.
 */
import { afterAll, expect, test } from "bun:test";
import { Client } from "../../client/mod.ts";
import { Maintenance, Watch } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, etcdctl, etcdts, startCluster, waitFor } from "../harness.ts";

afterAll(cleanup);

const REFUSED = "etcdserver: rpc not supported for learner";

test("a learner serves Status and serializable reads only", async () => {
  const cluster = await startCluster(3);
  const voters = cluster.endpoints.join(",");
  await waitFor("a leader", async () => (await etcdts(voters, ["put", "k", "v"])).code === 0);
  const { member, id } = await cluster.addMember({ learner: true });
  const learner = member.endpoint;
  await waitFor("the learner to catch up", async () => {
    const r = await etcdts(learner, ["get", "k", "--consistency=s"]);
    return r.stdout === "k\nv\n";
  });

  // Status: allowed, and it says learner.
  const status = await etcdts(learner, ["endpoint", "status", "-w", "json"]);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)[0].Status.isLearner).toBe(true);
  const voterStatus = await etcdts(cluster.endpoints[0], ["endpoint", "status", "-w", "json"]);
  expect(JSON.parse(voterStatus.stdout)[0].Status.isLearner).toBeUndefined();

  // Unary calls other than Status and serializable Range: refused, by etcdts and etcd alike.
  for (const args of [["put", "k", "v2"], ["get", "k"], ["member", "list"], ["alarm", "list"]]) {
    const r = await etcdts(learner, args);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({
      args,
      code: 1,
      stderr: `Error: ${REFUSED}\n`,
    });
  }
  for (const args of [["put", "k", "v2"], ["lease", "grant", "10"]]) {
    const [ours, real] = await Promise.all([etcdts(learner, args), etcdctl(learner, args)]);
    expect(ours.stderr).toContain(REFUSED);
    // clientv3's retry warnings (zap JSON) are the Go client's logging, not etcdctl's output.
    const realErr = real.stderr.replace(/^\{"level":"warn".*\n/gm, "");
    expect({ code: ours.code, stderr: ours.stderr }).toEqual({ code: real.code, stderr: realErr });
  }

  // Streams are refused at once.
  const c = new Client({ endpoints: [learner], callTimeoutMs: 5000 });
  try {
    // The refusal may end the stream before or after the client's first send: either way it
    // must carry the learner message.
    const refusal = async (f: () => Promise<{ message?: string } | undefined>) => {
      try {
        return (await f())?.message;
      } catch (e) {
        return (e as Error).message;
      }
    };
    const w = c.service(Watch).watch();
    expect(
      await refusal(async () => {
        await w.send({
          requestUnion: { case: "createRequest", value: { key: new TextEncoder().encode("k") } },
        });
        return await w.status;
      }),
    ).toBe(REFUSED);
    const snap = c.service(Maintenance).snapshot({});
    expect(await refusal(async () => await snap.status)).toBe(REFUSED);
  } finally {
    c.close();
  }

  // The JSON gateway goes through the same check.
  const gw = await fetch(`${member.clientUrl}/v3/kv/put`, {
    method: "POST",
    body: JSON.stringify({ key: "aw==", value: "dg==" }),
  });
  expect(((await gw.json()) as { message: string }).message).toBe(REFUSED);

  // A client that lists the learner first moves on to a voter, even for a write.
  expect((await etcdts([learner, voters].join(","), ["put", "k", "v3"])).stdout).toBe("OK\n");

  // Once promoted it serves everything.
  await waitFor("the promotion", async () => (await etcdts(voters, ["member", "promote", id])).code === 0);
  await waitFor(
    "the member to know it is a voter",
    async () => (await etcdts(learner, ["put", "k", "v4"])).code === 0,
  );
  const promoted = await etcdts(learner, ["endpoint", "status", "-w", "json"]);
  expect(JSON.parse(promoted.stdout)[0].Status.isLearner).toBeUndefined();
}, 120_000);

test("with auth on, a follower forwards a promotion to the leader over the peer connection", async () => {
  const cluster = await startCluster(3);
  const all = cluster.endpoints.join(",");
  await waitFor("a leader", async () => (await etcdts(all, ["put", "k", "v"])).code === 0);
  const root = ["--user", "root:secret"];
  // A learner that never starts is never in sync: the leader's refusal must come back.
  // On a loaded machine the first add can time out (its outcome then unknown): add until the
  // member list has it.
  let staleId = "";
  await waitFor("the stale learner to be added", async () => {
    const list = await etcdts(all, ["member", "list"]);
    const line = list.stdout.split("\n").find((l) => l.includes(", http://127.0.0.1:1, "));
    if (line !== undefined) {
      staleId = line.split(",")[0];
      return true;
    }
    await etcdts(all, ["member", "add", "stale", "--learner", "--peer-urls=http://127.0.0.1:1"]);
    return false;
  });
  for (const args of [["user", "add", "root:secret"], ["auth", "enable"]]) {
    expect((await etcdts(all, args)).code).toBe(0);
  }
  // Member IDs do not fit a double: compare them as the JSON's text.
  const raw = (await etcdts(all, [...root, "endpoint", "status", "-w", "json"])).stdout;
  const ids = [...raw.matchAll(/"member_id":(\d+)/g)].map((m) => m[1]);
  const leaders = [...raw.matchAll(/"leader":(\d+)/g)].map((m) => m[1]);
  const endpoints = (JSON.parse(raw) as { Endpoint: string }[]).map((s) => s.Endpoint);
  const follower = endpoints.find((_, i) => ids[i] !== leaders[i])!;
  expect(follower).toBeDefined();
  const viaFollower = (id: string) => etcdts(follower, [...root, "member", "promote", id]);
  expect((await viaFollower(staleId)).stderr).toBe(
    "Error: etcdserver: can only promote a learner member which is in sync with leader\n",
  );
  expect((await etcdts(all, [...root, "member", "remove", staleId])).code).toBe(0);

  const { id } = await cluster.addMember({ learner: true, cliArgs: root });
  await waitFor("a promotion through a follower", async () => (await viaFollower(id)).code === 0);
  const list = await etcdts(all, [...root, "member", "list"]);
  expect(list.stdout).toContain(`${id}, started`);
  expect(list.stdout).not.toContain("true\n"); // no learner left (the last column)
  expect((await viaFollower(id)).stderr).toBe("Error: etcdserver: can only promote a learner member\n");
}, 120_000);
