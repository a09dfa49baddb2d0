/** AsyncQueue lives in lib/async_queue.ts (the CLI's watch uses it too); kept for server imports. */
export { AsyncQueue } from "../../lib/async_queue.ts";
