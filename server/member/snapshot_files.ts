/**
 * Store copies on their way between members: those received from the leader, kept by
 * snapshot index until Raft accepts one, and those made for a follower, deleted once sent.
 * The file system is injected (only removal and naming are needed here).
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** What the member does to files. */
export interface MemberFiles {
  /** Removes a file; a missing one is fine. */
  remove(file: string): void;
}

export const nodeFiles: MemberFiles = {
  remove: (file) => fs.rmSync(file, { force: true }),
};

export class SnapshotFiles {
  readonly #dir: string;
  readonly #files: MemberFiles;
  /** Store copies received from the leader, by snapshot index, until Raft accepts one. */
  readonly #incoming = new Map<number, string>();
  #copies = 0;

  constructor(dir: string, files: MemberFiles) {
    this.#dir = dir;
    this.#files = files;
  }

  /** A copy for snapshot `index` arrived at `file`; one that arrived before for it goes. */
  received(index: number, file: string): void {
    const old = this.#incoming.get(index);
    if (old !== undefined && old !== file) this.#files.remove(old);
    this.#incoming.set(index, file);
  }

  /** The copy received for snapshot `index`, if any. */
  incoming(index: number): string | undefined {
    return this.#incoming.get(index);
  }

  /** Snapshot `index` is installed: it and older copies are not needed any more. */
  installed(index: number): void {
    for (const [i, f] of this.#incoming) {
      if (i <= index) {
        this.#files.remove(f);
        this.#incoming.delete(i);
      }
    }
  }

  /** A fresh file name for a copy going to member `to`. */
  outgoing(to: bigint): string {
    return path.join(this.#dir, `out-${to.toString(16)}-${++this.#copies}.db`);
  }

  remove(file: string): void {
    this.#files.remove(file);
  }

  /** Removes every received copy (the member stops). */
  clear(): void {
    for (const f of this.#incoming.values()) this.#files.remove(f);
  }
}
