/**
 * Stopping a member with work in flight: the raft loop run that a proposal scheduled must
 * not start after stop() has let the server close the log and the store. It once did (a
 * warm-up member stopped under load took the whole process down with "fatal: raft loop
 * failed: store: closed").
 */
import { afterAll, expect, spyOn, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import * as path from "node:path";
import { PutRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { putProposal } from "../../server/proposal_codec.ts";
import { startServer } from "../../server/serve.ts";
import { scratchConfig } from "../../server/jit/warmup.ts";
import { cleanup, tempDir, waitFor } from "../harness.ts";

afterAll(cleanup);

test("a proposal made just before stop() is answered, and nothing runs against the closed store", async () => {
  const server = await startServer(scratchConfig(path.join(tempDir(), "d")));
  await waitFor("the member to lead", () => server.member.isLeader);

  const exit = spyOn(process, "exit").mockImplementation(
    ((code?: number) => {
      throw new Error(`process.exit(${code}) called`);
    }) as typeof process.exit,
  );
  try {
    const put = create(PutRequestSchema, { key: new TextEncoder().encode("k"), value: new Uint8Array(1) });
    // Proposed, its raft loop run scheduled for the next turn, then stopped in this one.
    const answer = server.member.propose(putProposal(put));
    await server.stop();
    expect(await answer).toMatchObject({ message: "etcdserver: server stopped" });
    // Give the scheduled run every chance to fire.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
    expect(exit).not.toHaveBeenCalled();
  } finally {
    exit.mockRestore();
  }
});
