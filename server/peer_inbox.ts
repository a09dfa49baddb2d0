/**
 * Where the peer transport delivers what peers send: raft messages, snapshots and
 * unreachable reports, for the member. The transport is made before the member (the member
 * sends through it), so the member attaches here once it has started; until then what
 * arrives is dropped, which raft tolerates (the sender retries, as after a lost packet).
 */
import type { Message } from "../raft/mod.ts";

/** What a member takes from its peers. */
export interface PeerReceiver {
  step(m: Message): void;
  stepSnapshot(m: Message, dbFile: string): void;
  reportUnreachable(id: bigint): void;
}

export class PeerInbox {
  #receiver: PeerReceiver | null = null;

  attach(receiver: PeerReceiver): void {
    if (this.#receiver !== null) throw new Error("a peer inbox serves one member");
    this.#receiver = receiver;
  }

  readonly message = (m: Message): void => this.#receiver?.step(m);
  readonly snapshot = (m: Message, dbFile: string): void => this.#receiver?.stepSnapshot(m, dbFile);
  readonly unreachable = (id: bigint): void => this.#receiver?.reportUnreachable(id);
}
