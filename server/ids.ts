/** Member and cluster IDs live in lib/ids.ts (snapshot restore derives them too); kept for server imports. */
export { clusterId, idHex, memberId } from "../lib/ids.ts";
