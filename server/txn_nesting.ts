/**
 * How deep nested txns may go. etcd's Go decoder has no depth limit, so there only
 * --max-txn-ops bounds nesting (each level spends at least one op of what its parent
 * leaves: 129 levels with the default 128) and a deeper txn fails validation with "too
 * many operations". Our decoder recurses on the JS stack, which holds a few thousand
 * levels: requests, validation and proposals all allow this many, so a txn that was
 * accepted always decodes again when it is applied.
 */
export const MAX_TXN_NESTING = 1000;

/**
 * The message levels of the deepest txn allowed: a TxnRequest and a RequestOp per level,
 * the op's request in the deepest, and the InternalRaftRequest around a proposal.
 */
export const MESSAGE_RECURSION_LIMIT = 2 * MAX_TXN_NESTING + 2;

/** Whether a decoder refused a message for nesting deeper than its limit (@bufbuild/protobuf's words). */
export function isTooDeep(e: unknown): boolean {
  return e instanceof Error && e.message.includes("maximum recursion depth");
}
