/**
 * Byte-for-byte comparisons that are easier to state as "same as etcdctl" than as a
 * transcript: every implemented command's help, and read-only output in every format
 * (including -w protobuf's binary) for the same server state.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type ServerUnderTest, startRealEtcd } from "./real_etcd.ts";
import { ourCli, realEtcdctl, runOnce, stderrContract } from "./runner.ts";

let server: ServerUnderTest | undefined;
let ep = process.env.ETCDTS_TEST_ENDPOINT ?? "";
beforeAll(async () => {
  if (ep === "") {
    server = await startRealEtcd();
    ep = server.endpoint;
  }
  await runOnce(realEtcdctl(), [`--endpoints=${ep}`, "put", "same/k", "v<&>"]);
  await runOnce(realEtcdctl(), [`--endpoints=${ep}`, "put", "same/k2", "\u00e9\u0001"]);
});
afterAll(() => server?.stop());

const helpOf = [
  ["get", "--help"],
  ["put", "--help"],
  ["del", "-h"],
  ["txn", "--help"],
  ["compaction", "--help"],
  ["version", "--help"],
  // ["member"] lists add/remove/update/promote, which come with the membership issue
  ["member", "list", "--help"],
  ["endpoint"],
  ["endpoint", "health", "--help"],
  ["endpoint", "status", "--help"],
  ["endpoint", "hashkv", "--help"],
  ["check", "perf", "--help"],
  ["check", "datascale", "--help"],
  ["check"],
  ["help", "get"],
];

const reads = ["simple", "json", "fields", "protobuf", "table"].flatMap((w) => [
  ["get", "same/", "--prefix", "-w", w],
  ["get", "same/", "--prefix", "--hex", "-w", w],
  ["member", "list", "-w", w],
  ["endpoint", "hashkv", "-w", w],
]);

for (const args of [...helpOf, ...reads]) {
  test(`same output: ${args.join(" ")}`, async () => {
    const full = [`--endpoints=${ep}`, ...args];
    const [ours, real] = await Promise.all([runOnce(ourCli(), full), runOnce(realEtcdctl(), full)]);
    // `check integrity` is ours alone: etcdctl's list has no such line.
    if (args[0] === "check") ours.stdout = ours.stdout.replace(/^\tintegrity\t.*\n/m, "");
    expect({ ...ours, stderr: stderrContract(ours.stderr) }).toEqual({
      ...real,
      stderr: stderrContract(real.stderr),
    });
  }, 20_000);
}
