/**
 * etcd's --cipher-suites: Go's cipher suite names (pkg/tlsutil/cipher_suites.go accepts
 * what Go's crypto/tls names, plus two short CHACHA20 aliases) as OpenSSL's names, which
 * node:tls's `ciphers` option takes.
 *
 * Go applies a configured list to TLS 1.0–1.2 only: TLS 1.3's suites are not configurable
 * there, so etcd 3.4 with --cipher-suites still negotiates TLS 1.3 with any client that
 * offers it. OpenSSL's `ciphers` list does the same (TLS 1.3's come from a separate list).
 * A list of TLS 1.3 names alone leaves Go no suite for TLS 1.2, so only TLS 1.3 connects:
 * here that is a minimum version of TLS 1.3.
 */
const OPENSSL_NAMES: Readonly<Record<string, string | null>> = {
  TLS_RSA_WITH_RC4_128_SHA: "RC4-SHA",
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: "DES-CBC3-SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: "ECDHE-ECDSA-RC4-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: "ECDHE-RSA-RC4-SHA",
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: "ECDHE-RSA-DES-CBC3-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
};

/** What --cipher-suites asks of a TLS endpoint. */
export interface CipherPolicy {
  /** OpenSSL's list for TLS 1.2 and below, in the order given; "" for OpenSSL's defaults. */
  readonly ciphers: string;
  /** Only TLS 1.3 suites were named: TLS 1.2 has none left, so only TLS 1.3 connects. */
  readonly tls13Only: boolean;
}

/** The policy for Go suite names, or etcd's error for a name Go does not know. */
export function opensslCiphers(names: readonly string[]): CipherPolicy | { error: string } {
  const out: string[] = [];
  for (const name of names) {
    const openssl = Object.hasOwn(OPENSSL_NAMES, name) ? OPENSSL_NAMES[name] : undefined;
    if (openssl === undefined) return { error: `unexpected TLS cipher suite ${JSON.stringify(name)}` };
    if (openssl !== null && !out.includes(openssl)) out.push(openssl);
  }
  return { ciphers: out.join(":"), tls13Only: names.length > 0 && out.length === 0 };
}

/** node:tls options (server or client side) carrying `p`. */
export function cipherOptions(p: CipherPolicy): { ciphers?: string; minVersion?: "TLSv1.3" } {
  return {
    ...(p.ciphers !== "" ? { ciphers: p.ciphers } : {}),
    ...(p.tls13Only ? { minVersion: "TLSv1.3" as const } : {}),
  };
}
