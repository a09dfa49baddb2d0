/**
 * Membership changes as Raft conf changes. The change itself (and, for an added member,
 * its name and URLs) rides in the conf change's context as JSON, so that a member
 * replaying the log or receiving it from the leader learns the roster from the log alone,
 * as etcd's members do from the Member JSON it puts there.
 */
import { type ConfChange, ConfChangeType } from "../raft/mod.ts";
import type { MemberChange, MemberRecord } from "../store/mvcc.ts";
import { idHex } from "../lib/ids.ts";

interface ContextJson {
  op: "add" | "promote" | "update";
  id: string;
  name?: string;
  peerURLs?: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The conf change that makes `change` happen; `requestId` lets the proposer find it applied. */
export function confChangeFor(change: MemberChange, requestId?: bigint): ConfChange {
  const withId = (cc: ConfChange): ConfChange => (requestId === undefined ? cc : { ...cc, id: requestId });
  const ctx = (json: ContextJson) => encoder.encode(JSON.stringify(json));
  switch (change.kind) {
    case "add": {
      const m = change.member;
      return withId({
        type: m.isLearner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode,
        nodeId: m.id,
        context: ctx({
          op: "add",
          id: idHex(m.id),
          name: m.name,
          peerURLs: [...m.peerUrls],
          clientURLs: [...m.clientUrls],
          isLearner: m.isLearner,
        }),
      });
    }
    case "promote":
      return withId({
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: change.id,
        context: ctx({ op: "promote", id: idHex(change.id) }),
      });
    case "update":
      return withId({
        type: ConfChangeType.ConfChangeUpdateNode,
        nodeId: change.id,
        context: ctx({ op: "update", id: idHex(change.id), peerURLs: [...change.peerUrls] }),
      });
    case "remove":
      return withId({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: change.id });
  }
}

/** The membership change a committed conf change entry carries. */
export function memberChangeOf(cc: ConfChange): MemberChange {
  if (cc.type === ConfChangeType.ConfChangeRemoveNode) return { kind: "remove", id: cc.nodeId };
  const json: Partial<ContextJson> = cc.context !== undefined && cc.context.length > 0
    ? JSON.parse(decoder.decode(cc.context))
    : {};
  if (json.op === "promote") return { kind: "promote", id: cc.nodeId };
  if (json.op === "update" || cc.type === ConfChangeType.ConfChangeUpdateNode) {
    return { kind: "update", id: cc.nodeId, peerUrls: json.peerURLs ?? [] };
  }
  const member: MemberRecord = {
    id: cc.nodeId,
    name: json.name ?? "",
    peerUrls: json.peerURLs ?? [],
    clientUrls: json.clientURLs ?? [],
    isLearner: cc.type === ConfChangeType.ConfChangeAddLearnerNode,
  };
  return { kind: "add", member };
}

/** Bootstrap contexts for a brand-new cluster's initial members. */
export function bootstrapContexts(roster: readonly MemberRecord[]): Map<bigint, Uint8Array> {
  return new Map(roster.map((m) => [m.id, confChangeFor({ kind: "add", member: m }).context!]));
}
