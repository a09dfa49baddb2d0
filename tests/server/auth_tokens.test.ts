/**
 * JwtTokens' claim checks, with a fixed clock: golang-jwt's rules (whole seconds; exp,
 * iat and nbf each when present), and the verified-token cache honouring exp too.
 */
import { expect, test } from "bun:test";
import * as crypto from "node:crypto";
import { JwtTokens } from "../../server/auth/tokens.ts";

const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });

function provider(nowMs: { v: number }): JwtTokens {
  return new JwtTokens({
    alg: "ES256",
    ttlMs: 2000,
    signKey: privateKey,
    verifyKey: publicKey,
    now: () => nowMs.v,
  });
}

function signed(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64({ alg: "ES256", typ: "JWT" })}.${b64(claims)}`;
  const sig = crypto.sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

test("a token is valid through its exp second and invalid after, cached or not", () => {
  const now = { v: 1_000_000_500 };
  const p = provider(now);
  const token = p.issue("alice", 3n);
  expect(p.info(token)).toEqual({ username: "alice", revision: 3n });
  now.v = 1_000_002_999; // exp = floor((1_000_000_500 + 2000) / 1000) = 1_000_002
  expect(p.info(token)).not.toBeNull();
  expect(provider(now).info(token)).not.toBeNull();
  now.v = 1_000_003_000;
  expect(p.info(token)).toBeNull();
  expect(provider(now).info(token)).toBeNull();
});

test("iat and nbf in the future are refused; a token without exp never expires", () => {
  const now = { v: 5_000_000 };
  const p = provider(now);
  expect(p.info(signed({ username: "a", revision: 1, iat: 5001 }))).toBeNull();
  expect(p.info(signed({ username: "a", revision: 1, nbf: 5001 }))).toBeNull();
  expect(p.info(signed({ username: "a", revision: 1, iat: 5000, nbf: 5000 }))).not.toBeNull();
  expect(p.info(signed({ username: "a", revision: 1 }))).not.toBeNull();
  expect(p.info(signed({ username: 7, revision: 1 }))).toBeNull();
});
