/**
 * Promoting a learner through a follower: only the leader knows how far the learner's log
 * is, so a follower forwards the request to it over the peer connection, as etcd does
 * (POST /members/promote/<id> on the leader's peer URL, answered with the member list in
 * etcd's membership JSON). The peer connection carries the cluster's peer TLS, and needs
 * no client credentials: the follower has already checked the caller's.
 */
import { Errors, type EtcdError, etcdError, isEtcdError } from "../api/errors.ts";
import { Code } from "../api/errors.ts";
import type { MemberRecord } from "../store/mvcc.ts";
import type { PeerTransport } from "./peer.ts";

export const PROMOTE_PATH = "/members/promote/";

/** etcd's membership texts, which tell the 412 answers apart. */
const NOT_LEARNER = "membership: can only promote a learner member";
const ID_NOT_FOUND = "membership: ID not found";

/** etcd's membership.Member as JSON: IDs as numbers, empty name, client URLs and learner flag left out. */
function membersJson(members: readonly MemberRecord[]): string {
  return "[" + members.map((m) => {
    const fields = [`"id":${m.id}`, `"peerURLs":${JSON.stringify(m.peerUrls)}`];
    if (m.name !== "") fields.push(`"name":${JSON.stringify(m.name)}`);
    if (m.clientUrls.length > 0) fields.push(`"clientURLs":${JSON.stringify(m.clientUrls)}`);
    if (m.isLearner) fields.push(`"isLearner":true`);
    return `{${fields.join(",")}}`;
  }).join(",") + "]\n";
}

function parseMembers(text: string): MemberRecord[] {
  // IDs are uint64: read them from their source text, not as doubles.
  const raw = JSON.parse(
    text,
    (k, v, ctx?: { source?: string }) => k === "id" && ctx?.source !== undefined ? BigInt(ctx.source) : v,
  ) as {
    id: bigint;
    peerURLs?: string[];
    name?: string;
    clientURLs?: string[];
    isLearner?: boolean;
  }[];
  return raw.map((m) => ({
    id: m.id,
    name: m.name ?? "",
    peerUrls: m.peerURLs ?? [],
    clientUrls: m.clientURLs ?? [],
    isLearner: m.isLearner ?? false,
  }));
}

/** Serves forwarded promotions on the peer port with the leader's own `promote`. */
export function servePromoteRoute(
  transport: PeerTransport,
  promote: (id: bigint) => Promise<readonly MemberRecord[] | EtcdError>,
): void {
  transport.route(`${PROMOTE_PATH}:id`, async (_body, path) => {
    const idText = path.slice(PROMOTE_PATH.length);
    if (!/^\d+$/.test(idText) || BigInt(idText) >= 1n << 64n) {
      return new Response(`member ${idText} not found in cluster\n`, { status: 404 });
    }
    const r = await promote(BigInt(idText));
    if (!isEtcdError(r)) {
      return new Response(membersJson(r), { headers: { "Content-Type": "application/json" } });
    }
    if (r === Errors.MemberNotFound) return new Response(ID_NOT_FOUND + "\n", { status: 404 });
    if (r === Errors.MemberNotLearner) return new Response(NOT_LEARNER + "\n", { status: 412 });
    if (r === Errors.LearnerNotReady) return new Response(r.message + "\n", { status: 412 });
    if (r === Errors.Timeout) return new Response(r.message + "\n", { status: 408 });
    return new Response(r.message + "\n", { status: 500 });
  });
}

/** Asks the leader to promote `id`; its refusals come back as etcd's errors. */
export async function promoteAtLeader(
  transport: PeerTransport,
  leaderId: bigint,
  id: bigint,
): Promise<readonly MemberRecord[] | EtcdError> {
  if (leaderId === 0n) return Errors.NoLeader;
  const res = await transport.post(
    leaderId,
    `${PROMOTE_PATH}${id}`,
    new Uint8Array(),
    AbortSignal.timeout(10_000),
  );
  if (res === null) return Errors.TimeoutDueToConnectionLost;
  const text = await res.text();
  switch (res.status) {
    case 200:
      return parseMembers(text);
    case 404:
      return Errors.MemberNotFound;
    case 408:
      return Errors.Timeout;
    case 412:
      if (text.includes(Errors.LearnerNotReady.message)) return Errors.LearnerNotReady;
      if (text.includes(NOT_LEARNER)) return Errors.MemberNotLearner;
  }
  return etcdError(Code.Unknown, `member promote: unknown error(${text})`);
}
