/**
 * A request body as a web ReadableStream that reads no further ahead than its consumer:
 * past a small read-ahead the source is paused (an HTTP/2 stream stops granting window,
 * an HTTP/1.1 socket stops being read), so a handler that reads slowly or not at all
 * leaves the rest of the body with the client instead of in server memory.
 *
 * Why not Readable.toWeb (what @hono/node-server uses): in Bun it reads its source to the
 * end whatever the consumer takes, queueing every chunk.
 */

/** What a body source offers: node:http's IncomingMessage and our HTTP/2 stream alike. */
export interface BodySource {
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Body bytes read ahead of the consumer before the source is paused. */
const READ_AHEAD_BYTES = 256 * 1024;

export function requestBody(source: BodySource): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true;
      const close = () => {
        if (open) controller.close();
        open = false;
      };
      source.on("data", (chunk) => {
        if (!open) return;
        controller.enqueue(new Uint8Array(chunk));
        if ((controller.desiredSize ?? 1) <= 0) source.pause();
      });
      source.on("end", close);
      source.on("close", close);
    },
    pull() {
      source.resume();
    },
  }, { highWaterMark: READ_AHEAD_BYTES, size: (chunk) => chunk?.byteLength ?? 0 });
}
