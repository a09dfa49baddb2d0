import type { Message, NodeId } from "./messages.ts";

/** A read request waiting for a quorum of heartbeat acknowledgements. */
export interface ReadIndexStatus {
  readonly req: Message;
  /** The leader's commit index when the request arrived: the read may be served at it. */
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/**
 * Pending ReadIndex requests on the leader, keyed by their context, in arrival order. An
 * acknowledgement of a later request's heartbeat also confirms every earlier one, which is
 * how concurrent reads share one heartbeat round.
 */
export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  addRequest(index: number, m: Message): void {
    const key = contextKey(m.entries[0].data);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records that `id` answered the heartbeat carrying `context`; returns who has so far. */
  recvAck(id: NodeId, context: Uint8Array): ReadonlySet<NodeId> | null {
    const rs = this.pending.get(contextKey(context));
    if (rs === undefined) return null;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Removes and returns every request up to and including the one with `context`. */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs !== undefined) out.push(rs);
      this.pending.delete(k);
    }
    return out;
  }

  lastPendingRequestContext(): Uint8Array | null {
    if (this.queue.length === 0) return null;
    return this.pending.get(this.queue[this.queue.length - 1])!.req.entries[0].data;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}

function contextKey(ctx: Uint8Array): string {
  let s = "";
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]);
  return s;
}
