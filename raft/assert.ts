/**
 * Invariants whose violation means the log or the state machine would be corrupted. Like
 * TigerBeetle we stop rather than continue: the node crashes and restarts from its disk.
 */
export class RaftInvariantError extends Error {
  override name = "RaftInvariantError";
}

export function assert(cond: boolean, msg: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof msg === "string" ? msg : msg());
}
