/** SIGINT/SIGTERM as an AbortSignal, for commands that release what they hold before exiting (lock, elect). */

/** An AbortSignal aborted on the first SIGINT or SIGTERM; the handlers stay for the process's life. */
export function interrupted(): AbortSignal {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return ac.signal;
}
