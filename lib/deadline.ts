/**
 * Waiting on a promise for at most a while: its value, or "deadline" if it took longer (it
 * runs on; only the wait ends). The timer is cleared either way, so it never keeps a
 * process alive.
 */
export async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | "deadline"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"deadline">((resolve) => (timer = setTimeout(() => resolve("deadline"), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
