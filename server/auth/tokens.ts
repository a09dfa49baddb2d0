/**
 * Auth token providers, as `--auth-token` selects them (etcd's auth/simple_token.go and
 * auth/jwt.go):
 *
 * - `simple`: `<16 random letters>.<log index>`. The letters travel in the Authenticate
 *   proposal, so every member learns the token when it applies the entry (see
 *   AuthStore.listen); a token lives `--auth-token-ttl` seconds after its last use and
 *   dies with a password change, a user deletion or `auth disable`.
 * - `jwt,pub-key=F,priv-key=F,sign-method=RS256,ttl=5m`: stateless signed tokens carrying
 *   the user name and the auth revision they were issued at; any member with the key
 *   verifies them.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { parseGoDuration } from "../../lib/gofmt.ts";
import type { AuthListener } from "./store.ts";

/** Who a request comes from and at which auth revision its credentials were checked. */
export interface AuthInfo {
  readonly username: string;
  readonly revision: bigint;
}

/** One token scheme. */
export interface TokenProvider extends AuthListener {
  readonly kind: "simple" | "jwt";
  /** The random part of the next simple token, carried in the proposal ("" for jwt). */
  prefix(): string;
  /** The token handed to the client after its Authenticate entry was applied. */
  issue(user: string, revision: bigint, applied: string): string;
  /** The identity behind a token, or null when it is unknown, expired or forged. */
  info(token: string, currentRevision: bigint): AuthInfo | null;
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Simple tokens: known to every member that applied their Authenticate entry. */
export class SimpleTokens implements TokenProvider {
  readonly kind = "simple";
  readonly #ttlMs: number;
  readonly #tokens = new Map<string, { user: string; expires: number }>();
  readonly #now: () => number;

  constructor(opts: { ttlSeconds: number; now?: () => number }) {
    this.#ttlMs = Math.max(1, opts.ttlSeconds) * 1000;
    this.#now = opts.now ?? Date.now;
  }

  prefix(): string {
    const bytes = crypto.randomBytes(16);
    let s = "";
    for (const b of bytes) s += LETTERS[b % LETTERS.length];
    return s;
  }

  issue(_user: string, _revision: bigint, applied: string): string {
    return applied;
  }

  info(token: string, currentRevision: bigint): AuthInfo | null {
    const t = this.#tokens.get(token);
    if (t === undefined) return null;
    const now = this.#now();
    if (now >= t.expires) {
      this.#tokens.delete(token);
      return null;
    }
    t.expires = now + this.#ttlMs; // etcd resets the TTL on every use
    return { username: t.user, revision: currentRevision };
  }

  authenticated(user: string, token: string): void {
    if (token === "") return;
    this.#sweep();
    this.#tokens.set(token, { user, expires: this.#now() + this.#ttlMs });
  }

  userInvalidated(user: string): void {
    for (const [token, t] of this.#tokens) if (t.user === user) this.#tokens.delete(token);
  }

  disabled(): void {
    this.#tokens.clear();
  }

  #sweep(): void {
    const now = this.#now();
    for (const [token, t] of this.#tokens) if (now >= t.expires) this.#tokens.delete(token);
  }
}

type JwtAlg =
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "ES256"
  | "ES384"
  | "ES512"
  | "HS256"
  | "HS384"
  | "HS512";

const ALGS: ReadonlySet<string> = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
]);

/** JWT tokens signed with a configured key. */
export class JwtTokens implements TokenProvider {
  readonly kind = "jwt";
  readonly #alg: JwtAlg;
  readonly #ttlMs: number;
  readonly #signKey: crypto.KeyObject | null;
  readonly #verifyKey: crypto.KeyObject;
  /** Verified tokens (signature checks cost ~50 µs with RSA): token → identity and expiry. */
  readonly #verified = new Map<string, { info: AuthInfo; exp: number }>();
  readonly #now: () => number;

  constructor(
    opts: {
      alg: JwtAlg;
      ttlMs: number;
      signKey: crypto.KeyObject | null;
      verifyKey: crypto.KeyObject;
      now?: () => number;
    },
  ) {
    this.#alg = opts.alg;
    this.#ttlMs = opts.ttlMs;
    this.#signKey = opts.signKey;
    this.#verifyKey = opts.verifyKey;
    this.#now = opts.now ?? Date.now;
  }

  prefix(): string {
    return "";
  }

  issue(user: string, revision: bigint): string {
    if (this.#signKey === null) throw new Error("auth: jwt provider has no private key (verify only)");
    const header = b64url(JSON.stringify({ alg: this.#alg, typ: "JWT" }));
    const exp = Math.floor((this.#now() + this.#ttlMs) / 1000);
    const claims = b64url(`{"exp":${exp},"revision":${revision},"username":${JSON.stringify(user)}}`);
    const input = `${header}.${claims}`;
    return `${input}.${signJwt(this.#alg, this.#signKey, input)}`;
  }

  info(token: string): AuthInfo | null {
    // golang-jwt compares whole seconds: a token is still valid in its exp second.
    const now = Math.floor(this.#now() / 1000);
    const hit = this.#verified.get(token);
    if (hit !== undefined) {
      if (now <= hit.exp) return hit.info;
      this.#verified.delete(token);
      return null;
    }
    const parts = token.split(".");
    if (parts.length !== 3) return null;
    try {
      const header = JSON.parse(Buffer.from(parts[0], "base64url").toString());
      if (header?.alg !== this.#alg) return null;
      if (!verifyJwt(this.#alg, this.#verifyKey, `${parts[0]}.${parts[1]}`, parts[2])) return null;
      const c = JSON.parse(Buffer.from(parts[1], "base64url").toString());
      if (typeof c?.username !== "string" || typeof c?.revision !== "number") return null;
      // golang-jwt's MapClaims.Valid: exp, iat and nbf, each when present.
      if (typeof c.exp === "number" && now > c.exp) return null;
      if (typeof c.iat === "number" && now < c.iat) return null;
      if (typeof c.nbf === "number" && now < c.nbf) return null;
      const info = { username: c.username, revision: BigInt(c.revision) };
      if (this.#verified.size > 10_000) this.#verified.clear();
      this.#verified.set(token, { info, exp: typeof c.exp === "number" ? c.exp : Infinity });
      return info;
    } catch {
      return null;
    }
  }
}

function b64url(s: string): string {
  return Buffer.from(s).toString("base64url");
}

function digestOf(alg: JwtAlg): string {
  return `sha${alg.slice(2)}`;
}

/** How node:crypto signs and verifies `alg`: PSS padding for PS*, JWS's raw (r, s) for ES*. */
function asymmetricKey(alg: JwtAlg, key: crypto.KeyObject): crypto.KeyObject | crypto.SignKeyObjectInput {
  if (alg.startsWith("PS")) {
    return {
      key,
      padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
    };
  }
  return alg.startsWith("ES") ? { key, dsaEncoding: "ieee-p1363" } : key;
}

function signJwt(alg: JwtAlg, key: crypto.KeyObject, input: string): string {
  const data = Buffer.from(input);
  const digest = digestOf(alg);
  if (alg.startsWith("HS")) return crypto.createHmac(digest, key).update(data).digest("base64url");
  return crypto.sign(digest, data, asymmetricKey(alg, key)).toString("base64url");
}

function verifyJwt(alg: JwtAlg, key: crypto.KeyObject, input: string, sig: string): boolean {
  const data = Buffer.from(input);
  const signature = Buffer.from(sig, "base64url");
  const digest = digestOf(alg);
  if (alg.startsWith("HS")) {
    const want = crypto.createHmac(digest, key).update(data).digest();
    return want.length === signature.length && crypto.timingSafeEqual(want, signature);
  }
  return crypto.verify(digest, data, asymmetricKey(alg, key), signature);
}

/**
 * The provider `--auth-token` names: "simple" or "jwt,pub-key=...,priv-key=...,
 * sign-method=...,ttl=...". An error value (message) for a bad spec.
 */
export function tokenProvider(spec: string, opts: { ttlSeconds: number }): TokenProvider | string {
  const [kind, ...rest] = spec.split(",");
  if (kind === "simple") return new SimpleTokens({ ttlSeconds: opts.ttlSeconds });
  if (kind !== "jwt") return `--auth-token: unknown token type "${kind}"`;
  const o = new Map<string, string>();
  for (const kv of rest) {
    const eq = kv.indexOf("=");
    if (eq > 0) o.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const alg = o.get("sign-method") ?? "";
  if (!ALGS.has(alg)) return `--auth-token: invalid auth options (sign-method "${alg}")`;
  let ttlMs = 5 * 60_000;
  if (o.has("ttl")) {
    const d = parseGoDuration(o.get("ttl")!);
    if (typeof d !== "number") return `--auth-token: invalid ttl "${o.get("ttl")}"`;
    ttlMs = d;
  }
  try {
    if (alg.startsWith("HS")) {
      const secret = crypto.createSecretKey(fs.readFileSync(o.get("priv-key") ?? ""));
      return new JwtTokens({ alg: alg as JwtAlg, ttlMs, signKey: secret, verifyKey: secret });
    }
    const priv = o.has("priv-key") ? crypto.createPrivateKey(fs.readFileSync(o.get("priv-key")!)) : null;
    const pub = o.has("pub-key")
      ? crypto.createPublicKey(fs.readFileSync(o.get("pub-key")!))
      : priv !== null
      ? crypto.createPublicKey(priv)
      : null;
    if (pub === null) return "--auth-token: jwt needs pub-key or priv-key";
    return new JwtTokens({ alg: alg as JwtAlg, ttlMs, signKey: priv, verifyKey: pub });
  } catch (e) {
    return `--auth-token: ${(e as Error).message}`;
  }
}
