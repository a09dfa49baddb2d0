/**
 * The Cluster service: membership as the log decided it, and changes to it through Raft
 * conf changes, with etcd's checks (--strict-reconfig-check keeps a change from costing
 * the cluster its quorum).
 */
import { create, type DescMessage } from "@bufbuild/protobuf";
import {
  type Cluster,
  type Member as MemberMsg,
  MemberPromoteResponseSchema,
  MemberRemoveResponseSchema,
  MemberSchema,
  MemberUpdateResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import type { MemberRecord, MvccStore } from "../../store/mvcc.ts";
import { Errors, type EtcdError, isEtcdError } from "../../api/errors.ts";
import { memberId } from "../ids.ts";

export interface ClusterDeps {
  readonly member: Member;
  readonly store: MvccStore;
  readonly strictReconfigCheck: boolean;
  /** Asks the leader to promote a learner (promote_forward.ts); a follower cannot judge it. */
  readonly promoteAtLeader: (id: bigint) => Promise<readonly MemberRecord[] | EtcdError>;
}

/** Promotes learner `id` on the leader, with etcd's checks; the peer route calls it too. */
export async function promoteHere(
  deps: Pick<ClusterDeps, "member" | "store">,
  id: bigint,
): Promise<readonly MemberRecord[] | EtcdError> {
  const target = deps.store.members().find((m) => m.id === id);
  if (target === undefined) return Errors.MemberNotFound;
  if (!target.isLearner) return Errors.MemberNotLearner;
  const ready = deps.member.learnerReady(id);
  if (ready !== null) return ready;
  return await deps.member.proposeMemberChange({ kind: "promote", id });
}

/** etcd's Member message for a member record. */
export function memberMessage(m: MemberRecord): MemberMsg {
  return create(MemberSchema, {
    ID: m.id,
    name: m.name,
    peerURLs: [...m.peerUrls],
    clientURLs: [...m.clientUrls],
    isLearner: m.isLearner,
  });
}

/** A member counts as started once it published its name (etcd's IsStarted). */
function started(m: MemberRecord): boolean {
  return m.name !== "";
}

function validUrls(urls: readonly string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((u) => {
    try {
      const url = new URL(u);
      return (url.protocol === "http:" || url.protocol === "https:") && url.port !== "" &&
        url.pathname === "/";
    } catch {
      return false;
    }
  });
}

/** etcd's IsReadyToAddVotingMember: a quorum of the enlarged cluster has started. */
function readyToAddVoter(members: readonly MemberRecord[]): boolean {
  const voters = members.filter((m) => !m.isLearner);
  const nmembers = voters.length + 1;
  const nstarted = voters.filter(started).length;
  if (nstarted === 1 && nmembers === 2) return true; // growing a lone member, as a restore does
  return nstarted >= Math.floor(nmembers / 2) + 1;
}

/** etcd's IsReadyToRemoveVotingMember: the remaining members keep a started quorum. */
function readyToRemoveVoter(members: readonly MemberRecord[], id: bigint): boolean {
  const voters = members.filter((m) => !m.isLearner);
  const nstarted = voters.filter((m) => m.id !== id && started(m)).length;
  return nstarted >= Math.floor((voters.length - 1) / 2) + 1;
}

function overlapsPeerUrls(
  members: readonly MemberRecord[],
  urls: readonly string[],
  except?: bigint,
): boolean {
  return members.some((m) => m.id !== except && m.peerUrls.some((u) => urls.includes(u)));
}

export function clusterService(deps: ClusterDeps): Partial<ImplOf<typeof Cluster>> {
  const { member, store } = deps;
  // etcd's Cluster responses carry no revision (its ClusterServer header leaves it out).
  const header = () => responseHeader(member, 0n);
  const list = (members: readonly MemberRecord[]) => members.map(memberMessage);
  const changed = <S extends DescMessage>(schema: S, r: readonly MemberRecord[] | EtcdError) =>
    isEtcdError(r) ? r : create(schema, { header: header(), members: list(r) } as never);

  return {
    async memberList(req) {
      if (req.linearizable) {
        const err = await member.readIndex();
        if (err) return err;
      }
      return {
        $typeName: "etcdserverpb.MemberListResponse",
        header: header(),
        members: list(store.members()),
      };
    },

    async memberAdd(req) {
      if (!validUrls(req.peerURLs)) return Errors.MemberBadURLs;
      const members = store.members();
      if (overlapsPeerUrls(members, req.peerURLs)) return Errors.PeerURLExist;
      if (req.isLearner && members.filter((m) => m.isLearner).length >= 1) return Errors.TooManyLearners;
      if (deps.strictReconfigCheck && !req.isLearner && !readyToAddVoter(members)) {
        return Errors.MemberNotEnoughStarted;
      }
      // Like etcd, the new ID mixes in the time, so a re-added member gets a new identity.
      const id = memberId(req.peerURLs, { clusterToken: "", nowUnix: Math.floor(Date.now() / 1000) });
      if (members.some((m) => m.id === id) || store.removedMembers().has(id)) return Errors.MemberExist;
      const added: MemberRecord = {
        id,
        name: "",
        peerUrls: [...req.peerURLs],
        clientUrls: [],
        isLearner: req.isLearner,
      };
      const r = await member.proposeMemberChange({ kind: "add", member: added });
      if (isEtcdError(r)) return r;
      return {
        $typeName: "etcdserverpb.MemberAddResponse",
        header: header(),
        member: memberMessage(added),
        members: list(r),
      };
    },

    async memberRemove(req) {
      const members = store.members();
      const target = members.find((m) => m.id === req.ID);
      if (target === undefined) return Errors.MemberNotFound;
      if (deps.strictReconfigCheck && !target.isLearner && !readyToRemoveVoter(members, req.ID)) {
        return Errors.MemberNotEnoughStarted;
      }
      return changed(
        MemberRemoveResponseSchema,
        await member.proposeMemberChange({ kind: "remove", id: req.ID }),
      );
    },

    async memberUpdate(req) {
      if (!validUrls(req.peerURLs)) return Errors.MemberBadURLs;
      const members = store.members();
      if (!members.some((m) => m.id === req.ID)) return Errors.MemberNotFound;
      if (overlapsPeerUrls(members, req.peerURLs, req.ID)) return Errors.PeerURLExist;
      const change = { kind: "update", id: req.ID, peerUrls: [...req.peerURLs] } as const;
      return changed(MemberUpdateResponseSchema, await member.proposeMemberChange(change));
    },

    async memberPromote(req) {
      const target = store.members().find((m) => m.id === req.ID);
      if (target === undefined) return Errors.MemberNotFound;
      if (!target.isLearner) return Errors.MemberNotLearner;
      // Only the leader knows how far the learner's log is: a follower asks it.
      const r = member.isLeader ? await promoteHere(deps, req.ID) : await deps.promoteAtLeader(req.ID);
      return changed(MemberPromoteResponseSchema, r);
    },
  };
}
