/**
 * The KV service: reads are served from the store (after a ReadIndex for linearizable
 * ones); writes are validated, proposed to the log and answered once applied.
 */
import { create } from "@bufbuild/protobuf";
import type { KV, TxnRequest } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { Code, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import { responseHeader } from "../header.ts";
import { putProposal } from "../proposal_codec.ts";
import { stamped } from "../auth/stamp.ts";
import type { Member } from "../member.ts";
import type { Outcome } from "../apply/apply.ts";
import type { StateMachine } from "../apply/state_machine.ts";
import { isReadOnly as isReadOnlyTxn } from "../apply/txn.ts";
import { validateDeleteRange, validatePut, validateRange, validateTxn } from "../validate.ts";
import { steppedWork, yieldEvery } from "../turns.ts";

export interface KvDeps {
  readonly member: Member;
  readonly state: StateMachine;
  readonly maxTxnOps: number;
}

/** Unwraps an apply outcome into the response it carries, with a header at its revision. */
function answer<T extends { header?: unknown }>(deps: KvDeps, o: Outcome | EtcdError): T | EtcdError {
  if (isEtcdError(o)) return o;
  if (!o.ok) return o.error;
  if (o.response === null) return etcdError(Code.Internal, "etcdts: apply produced no response");
  const r = o.response as unknown as T;
  r.header = responseHeader(deps.member, o.revision);
  return r;
}

/**
 * Serves a read from the local store — after a ReadIndex round unless serializable — with a
 * header at the store's current revision, as etcd's range headers are.
 */
async function localRead<T extends { header?: unknown }>(
  deps: KvDeps,
  pacer: ReadPacer,
  opts: { serializable: boolean; read: () => T | EtcdError | Promise<T | EtcdError> },
): Promise<T | EtcdError> {
  if (!opts.serializable) {
    const err = await deps.member.readIndex();
    if (err) return err;
  }
  // One waiting read per turn (steppedWork runs one step per event-loop iteration).
  if (pacer.heavy) await steppedWork.next();
  const started = performance.now();
  // The state read is the one at the start (a read in steps answers for that moment).
  const revision = deps.state.store.currentRevision();
  const r = await opts.read();
  pacer.ran(performance.now() - started);
  if (isEtcdError(r)) return r;
  r.header = responseHeader(deps.member, revision);
  return r;
}

/**
 * etcd's isTxnSerializable: every op of both branches is a serializable range, so the
 * read-only txn is served locally without a ReadIndex round.
 */
function isSerializableTxn(req: TxnRequest): boolean {
  for (const ops of [req.success, req.failure]) {
    for (const op of ops) {
      if (op.request.case !== "requestRange" || !op.request.value.serializable) return false;
    }
  }
  return true;
}

/**
 * A read taking longer than this is heavy: reads after it in the same event-loop turn
 * wait for the next one. The reads a ReadIndex round releases all run in one turn, so
 * three 100 MB ranges read back to back stalled every other client for all three.
 */
const HEAVY_READ_MS = 20;

/** A range read yields to other work after this long (between statements). */
const READ_STEP_MS = 10;

/** Spaces heavy reads out over event-loop turns, so that other clients are served between them. */
class ReadPacer {
  #heavy = false;

  get heavy(): boolean {
    return this.#heavy;
  }

  ran(ms: number): void {
    if (ms < HEAVY_READ_MS || this.#heavy) return;
    this.#heavy = true;
    setImmediate(() => (this.#heavy = false));
  }
}

export function kvService(deps: KvDeps): ImplOf<typeof KV> {
  const pacer = new ReadPacer();
  const { member, state } = deps;
  return {
    async range(req) {
      const bad = validateRange(req);
      if (bad) return bad;
      return localRead(deps, pacer, {
        serializable: req.serializable,
        read: () => state.rangeInSteps(req, yieldEvery(READ_STEP_MS)),
      });
    },
    async put(req, ctx) {
      const bad = validatePut(req);
      if (bad) return bad;
      return answer(deps, await member.propose(stamped(putProposal(req), ctx), ctx));
    },
    async deleteRange(req, ctx) {
      const bad = validateDeleteRange(req);
      if (bad) return bad;
      return answer(
        deps,
        await member.propose(
          stamped(create(InternalRaftRequestSchema, { deleteRange: req }), ctx),
          ctx,
        ),
      );
    },
    async txn(req, ctx) {
      const bad = validateTxn(req, { maxTxnOps: deps.maxTxnOps });
      if (bad) return bad;
      if (isReadOnlyTxn(req)) {
        // Like etcd: a txn that writes nothing is a read, served without the log.
        return localRead(deps, pacer, {
          serializable: isSerializableTxn(req),
          read: () => state.readTxn(req),
        });
      }
      return answer(
        deps,
        await member.propose(stamped(create(InternalRaftRequestSchema, { txn: req }), ctx), ctx),
      );
    },
    async compact(req) {
      const outcome = await member.propose(create(InternalRaftRequestSchema, { compaction: req }));
      // `physical`: answered once this member's history has lost the compacted rows too.
      if (req.physical && !isEtcdError(outcome) && outcome.ok) await deps.state.store.compactionDeleted();
      return answer(deps, outcome);
    },
  };
}
