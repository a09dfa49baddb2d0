/** A worker thread that hashes a file's first bytes (file_sha256.ts's fileSha256OnWorker). */
import { fileSha256, type HashReply, type HashTask } from "./file_sha256.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<HashTask>) => {
  let reply: HashReply;
  try {
    reply = { digest: fileSha256(event.data.path, event.data.bytes) };
  } catch (e) {
    reply = { error: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(reply);
};
