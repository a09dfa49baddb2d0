/**
 * Password hashing: bcrypt, as etcd stores them, with `--bcrypt-cost` (etcd's default 10).
 * Bun.password runs bcrypt on a worker thread, so hashing never blocks the event loop.
 */

/** Only the first 72 bytes of a password key bcrypt's Blowfish (Go's bcrypt ignores the rest). */
const BCRYPT_KEY_BYTES = 72;

/**
 * The bytes to give Bun.password so it computes Go's bcrypt. Bun refuses an empty password
 * (etcd 3.4 accepts one: its own tests add users that log in by certificate only this way)
 * and pre-hashes one longer than 72 bytes (Go ignores what is past 72). bcrypt keys
 * Blowfish with the bytes and a NUL, repeated: "" and "\0" give the same key, all NULs.
 */
function bcryptInput(password: string): Uint8Array {
  const bytes = new TextEncoder().encode(password).subarray(0, BCRYPT_KEY_BYTES);
  return bytes.length === 0 ? new Uint8Array(1) : bytes;
}

/** A bcrypt hash of `password`. */
export async function hashPassword(password: string, cost: number): Promise<string> {
  return await Bun.password.hash(bcryptInput(password), {
    algorithm: "bcrypt",
    cost: Math.min(31, Math.max(4, cost)),
  });
}

/** Whether `password` matches the stored bcrypt hash (bytes as the store keeps them). */
export async function verifyPassword(password: string, hash: Uint8Array | string): Promise<boolean> {
  const h = typeof hash === "string" ? hash : new TextDecoder().decode(hash);
  if (h === "") return false;
  try {
    return await Bun.password.verify(bcryptInput(password), h, "bcrypt");
  } catch {
    return false;
  }
}
