/**
 * JWT tokens (`--auth-token jwt,...`), one suite against etcdts and the real etcd 3.4 with
 * the same keys: a valid token works; expired, malformed, foreign-key, alg-none and
 * alg-confused tokens are refused with etcd's "invalid auth token"; a token older than
 * the auth store gets "revision of auth store is old" and a client holding credentials
 * gets a new one transparently; a well-signed token naming no user is denied. The two
 * servers must also accept each other's tokens (ours are checked against golang-jwt).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  errorOf,
  etcdctl,
  etcdts,
  haveRealEtcd,
  type ServerProcess,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";
import { Client } from "../../client/client.ts";
import { Auth, KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";

afterAll(cleanup);

const INVALID = "etcdserver: invalid auth token";
const OLD = "etcdserver: revision of auth store is old";
const key = new TextEncoder().encode("/r/a");

interface Keys {
  readonly priv: crypto.KeyObject;
  readonly pub: crypto.KeyObject;
  readonly flag: string;
}

/** A key pair on disk and the --auth-token value that uses it. */
function keysFor(dir: string, alg: "RS256" | "ES256" | "PS256", ttl: string): Keys {
  const { privateKey, publicKey } = alg === "ES256"
    ? crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
    : crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privFile = path.join(dir, `${alg}.key`);
  const pubFile = path.join(dir, `${alg}.pub`);
  // golang-jwt reads PKCS#1 or PKCS#8 RSA keys and SEC 1 EC keys.
  fs.writeFileSync(
    privFile,
    privateKey.export(alg === "ES256" ? { type: "sec1", format: "pem" } : { type: "pkcs1", format: "pem" }),
  );
  fs.writeFileSync(pubFile, publicKey.export({ type: "spki", format: "pem" }));
  return {
    priv: privateKey,
    pub: publicKey,
    flag: `jwt,pub-key=${pubFile},priv-key=${privFile},sign-method=${alg},ttl=${ttl}`,
  };
}

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** A JWT with any header and claims, signed (RS256/ES256) with `priv`, or unsigned. */
function forge(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  priv?: crypto.KeyObject,
): string {
  const input = `${b64(header)}.${b64(claims)}`;
  if (priv === undefined) return `${input}.`;
  const sig = priv.asymmetricKeyType === "ec"
    ? crypto.sign("sha256", Buffer.from(input), { key: priv, dsaEncoding: "ieee-p1363" })
    : crypto.sign("sha256", Buffer.from(input), priv);
  return `${input}.${sig.toString("base64url")}`;
}

function claimsOf(token: string): { username: string; revision: number; exp: number } {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

async function setup(s: ServerProcess): Promise<void> {
  for (
    const args of [
      ["user", "add", "root:rootpw"],
      ["user", "add", "alice:apw"],
      ["user", "add", "bob:bpw"],
      ["role", "add", "reader"],
      ["role", "grant-permission", "reader", "read", "--prefix", "/r/"],
      ["user", "grant-role", "alice", "reader"],
      ["user", "grant-role", "bob", "reader"],
      ["put", "/r/a", "ra"],
      ["auth", "enable"],
    ]
  ) {
    const r = await etcdctl(s.endpoint, args);
    if (r.code !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  }
}

async function authenticate(s: ServerProcess, name: string, password: string): Promise<string> {
  const c = new Client({ endpoints: [s.endpoint] });
  try {
    return (await c.service(Auth).authenticate({ name, password })).token;
  } finally {
    c.close();
  }
}

/** The error text of a Range with `token`, or "ok". */
async function rangeWith(s: ServerProcess, token: string): Promise<string> {
  const c = new Client({ endpoints: [s.endpoint], token });
  try {
    await c.service(KV).range({ key });
    return "ok";
  } catch (e) {
    return (e as Error).message;
  } finally {
    c.close();
  }
}

/** The auth revision, as a fresh token states it (etcd 3.4 has no AuthStatus). */
async function authRevision(s: ServerProcess): Promise<number> {
  return claimsOf(await authenticate(s, "root", "rootpw")).revision;
}

describe.each(CONFORMANCE_TARGETS)("jwt tokens on %s", (kind) => {
  const dir = tempDir("jwt-");
  const rs = keysFor(dir, "RS256", "2s");
  const other = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  let s: ServerProcess;

  beforeAll(async () => {
    s = await startServer(kind, { extraArgs: ["--auth-token", rs.flag] });
    await setup(s);
  }, 60_000);

  test("Authenticate returns an RS256 JWT naming the user and the auth revision; it works", async () => {
    const token = await authenticate(s, "alice", "apw");
    const parts = token.split(".");
    expect(parts.length).toBe(3);
    expect(JSON.parse(Buffer.from(parts[0], "base64url").toString()).alg).toBe("RS256");
    const c = claimsOf(token);
    expect(c.username).toBe("alice");
    expect(c.revision).toBe(await authRevision(s));
    expect(c.exp - Date.now() / 1000).toBeLessThanOrEqual(3);
    expect(
      crypto.verify(
        "sha256",
        Buffer.from(`${parts[0]}.${parts[1]}`),
        rs.pub,
        Buffer.from(parts[2], "base64url"),
      ),
    )
      .toBe(true);
    expect(await rangeWith(s, token)).toBe("ok");
  });

  test("malformed, foreign-key, alg none and alg-confused tokens are invalid", async () => {
    const rev = await authRevision(s);
    const claims = { username: "alice", revision: rev, exp: Math.floor(Date.now() / 1000) + 600 };
    const hmacWithPublicKey = (() => {
      const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
      const secret = rs.pub.export({ type: "spki", format: "pem" });
      return `${input}.${crypto.createHmac("sha256", secret).update(input).digest("base64url")}`;
    })();
    const bad = [
      "nonsense",
      "a.b.c",
      "x.y",
      `${b64({ alg: "RS256", typ: "JWT" })}.${b64(claims)}`,
      `${b64({ alg: "RS256", typ: "JWT" })}.!!!.${b64("sig")}`,
      forge({ alg: "RS256", typ: "JWT" }, claims, other),
      forge({ alg: "none", typ: "JWT" }, claims),
      forge(
        { alg: "ES256", typ: "JWT" },
        claims,
        crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
      ),
      hmacWithPublicKey,
      forge({ alg: "RS256", typ: "JWT" }, { ...claims, exp: Math.floor(Date.now() / 1000) - 5 }, rs.priv),
    ];
    const out = [];
    for (const t of bad) out.push(await rangeWith(s, t));
    expect(out).toEqual(bad.map(() => INVALID));
    // The key's own signature over the same claims is accepted: the refusals are the forgeries'.
    expect(await rangeWith(s, forge({ alg: "RS256", typ: "JWT" }, claims, rs.priv))).toBe("ok");
  });

  test("a well-signed token for a user that does not exist is denied", async () => {
    const rev = await authRevision(s);
    const ghost = forge({ alg: "RS256", typ: "JWT" }, {
      username: "ghost",
      revision: rev,
      exp: Math.floor(Date.now() / 1000) + 600,
    }, rs.priv);
    expect(await rangeWith(s, ghost)).toBe("etcdserver: permission denied");
  });

  test("an expired token is invalid; a client with credentials re-authenticates", async () => {
    const token = await authenticate(s, "alice", "apw");
    expect(await rangeWith(s, token)).toBe("ok");
    const refreshing = new Client({ endpoints: [s.endpoint], user: { name: "alice", password: "apw" } });
    expect((await refreshing.service(KV).range({ key })).kvs.length).toBe(1);
    await waitFor("the token to expire", async () => (await rangeWith(s, token)) === INVALID, {
      timeoutMs: 10_000,
      intervalMs: 250,
    });
    expect((await refreshing.service(KV).range({ key })).kvs.length).toBe(1);
    refreshing.close();
    const cli = kind === "etcdts" ? etcdts : etcdctl;
    const r = await cli(s.endpoint, ["--user=alice:apw", "get", "/r/a", "--print-value-only"]);
    expect([r.stdout, r.code]).toEqual(["ra\n", 0]);
  }, 30_000);

  test(
    "after a user is deleted its token is old; a token of another user too, until it re-authenticates",
    async () => {
      const bob = await authenticate(s, "bob", "bpw");
      const alice = await authenticate(s, "alice", "apw");
      expect(await rangeWith(s, bob)).toBe("ok");
      const root = new Client({ endpoints: [s.endpoint], user: { name: "root", password: "rootpw" } });
      await root.service(Auth).userDelete({ name: "bob" });
      expect(await rangeWith(s, bob)).toBe(OLD);
      expect(await rangeWith(s, alice)).toBe(OLD);
      await expect(authenticate(s, "bob", "bpw")).rejects.toThrow(
        "etcdserver: authentication failed, invalid user ID or password",
      );
      // The deleted user's name in a token at the current revision: no such user.
      const rev = await authRevision(s);
      const forged = forge(
        { alg: "RS256", typ: "JWT" },
        { username: "bob", revision: rev, exp: Math.floor(Date.now() / 1000) + 600 },
        rs.priv,
      );
      expect(await rangeWith(s, forged)).toBe("etcdserver: permission denied");
      expect(await rangeWith(s, await authenticate(s, "alice", "apw"))).toBe("ok");
      const err = await errorOf(
        new Client({ endpoints: [s.endpoint], token: alice }).service(KV).put({ key, value: key }),
      );
      expect(err.message).toBe(OLD);
      root.close();
    },
    30_000,
  );
});

describe.if(haveRealEtcd())("jwt tokens: etcdts and etcd 3.4 accept each other's tokens", () => {
  for (const alg of ["RS256", "ES256", "PS256"] as const) {
    test(alg, async () => {
      const k = keysFor(tempDir("jwt-x-"), alg, "5m");
      const [ours, theirs] = await Promise.all([
        startServer("etcdts", { extraArgs: ["--auth-token", k.flag] }),
        startServer("etcd", { extraArgs: ["--auth-token", k.flag] }),
      ]);
      await Promise.all([setup(ours), setup(theirs)]);
      expect(await authRevision(ours)).toBe(await authRevision(theirs));
      const [fromOurs, fromTheirs] = await Promise.all([
        authenticate(ours, "alice", "apw"),
        authenticate(theirs, "alice", "apw"),
      ]);
      expect(await rangeWith(theirs, fromOurs)).toBe("ok");
      expect(await rangeWith(ours, fromTheirs)).toBe("ok");
      // Header and claim names are the same; only the expiry may differ by a second.
      expect(fromOurs.split(".")[0]).toBe(fromTheirs.split(".")[0]);
      expect(Object.keys(claimsOf(fromOurs)).sort()).toEqual(Object.keys(claimsOf(fromTheirs)).sort());
    }, 60_000);
  }
});
