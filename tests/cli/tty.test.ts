/**
 * The CLI at a terminal: stdin is a pty that never ends, so a command that has read what
 * it needs must exit on its own, as etcdctl does. Each case runs etcdctl against etcd and
 * our CLI against etcdts; the terminals must show the same and both must exit.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  cleanup,
  ETCDCTL_BIN,
  ETCDTS_BIN,
  haveRealEtcd,
  type ServerProcess,
  startServer,
} from "../harness.ts";
import { runInPty } from "./pty.ts";

afterAll(cleanup);

const txnInput = 'value("k") = "v"\n\nput k w\nget k\n\nput k x\n\n';
const txnOutput = "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n" +
  "SUCCESS\n\nOK\n\nk\nw\n";

describe("txn -i at a terminal", () => {
  const servers: Partial<Record<"etcdts" | "etcd", ServerProcess>> = {};
  const clis = [
    { kind: "etcdts" as const, argv: [ETCDTS_BIN] },
    ...(haveRealEtcd() ? [{ kind: "etcd" as const, argv: [ETCDCTL_BIN] }] : []),
  ];
  for (const { kind, argv } of clis) {
    test(`${kind === "etcd" ? "etcdctl" : "etcdts"} prints the result and exits`, async () => {
      const s = servers[kind] ??= await startServer(kind);
      const put = await runInPty([...argv, `--endpoints=${s.endpoint}`, "put", "k", "v"], "");
      expect(put).toEqual({ output: "OK\n", code: 0 });
      const txn = await runInPty([...argv, `--endpoints=${s.endpoint}`, "txn", "-i"], txnInput, {
        env: { ETCDCTL_API: "3" },
      });
      expect(txn).toEqual({ output: txnOutput, code: 0 });
    }, 30_000);
  }
});

describe("asking for a password at a terminal", () => {
  for (
    const { kind, argv } of [
      { kind: "etcdts" as const, argv: [ETCDTS_BIN] },
      ...(haveRealEtcd() ? [{ kind: "etcd" as const, argv: [ETCDCTL_BIN] }] : []),
    ]
  ) {
    test(`${kind === "etcd" ? "etcdctl" : "etcdts"}: user add asks twice, then exits`, async () => {
      const s = await startServer(kind);
      const r = await runInPty([...argv, `--endpoints=${s.endpoint}`, "user", "add", "carol"], "pw\npw\n", {
        env: { ETCDCTL_API: "3" },
      });
      expect(r).toEqual({
        output: "Password of carol: \nType password of carol again for confirmation: \nUser carol created\n",
        code: 0,
      });
    }, 30_000);
  }
});
