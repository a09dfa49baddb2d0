/**
 * A worker asked one thing: started on its entry point (lib/executable.ts's workerEntry),
 * posted its task, and awaited for its one reply. A worker that fails or exits before
 * replying answers `failed(message)` instead, so the reply always comes, as a value.
 */
export interface OneReplyWorker<R> {
  /** To stop it (terminate) once the reply is in, or when the caller gives up. */
  readonly worker: Worker;
  readonly reply: Promise<R>;
}

/** Starts the worker at `entry` on `task`; see OneReplyWorker. */
export function askWorker<R>(
  entry: string,
  task: unknown,
  failed: (message: string) => R,
): OneReplyWorker<R> {
  const worker = new Worker(entry);
  const reply = new Promise<R>((resolve) => {
    worker.onmessage = (event: MessageEvent<R>) => resolve(event.data);
    worker.onerror = (event) => resolve(failed(event.message));
    worker.addEventListener("close", () => resolve(failed("exited without a reply")));
  });
  worker.postMessage(task);
  return { worker, reply };
}
