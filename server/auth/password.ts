/**
 * Password hashing: bcrypt, as etcd stores them, with `--bcrypt-cost` (etcd's default 10).
 * Bun.password runs bcrypt on a worker thread, so hashing never blocks the event loop.
 */

/** A bcrypt hash of `password`. */
export async function hashPassword(password: string, cost: number): Promise<string> {
  return await Bun.password.hash(password, { algorithm: "bcrypt", cost: Math.min(31, Math.max(4, cost)) });
}

/** Whether `password` matches the stored bcrypt hash (bytes as the store keeps them). */
export async function verifyPassword(password: string, hash: Uint8Array | string): Promise<boolean> {
  const h = typeof hash === "string" ? hash : new TextDecoder().decode(hash);
  if (h === "") return false;
  try {
    return await Bun.password.verify(password, h, "bcrypt");
  } catch {
    return false;
  }
}
