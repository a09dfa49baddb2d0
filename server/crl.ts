/**
 * Certificate revocation as etcd applies `--client-crl-file` / `--peer-crl-file`: once a
 * TLS handshake is done, the connection is refused if the serial number of any
 * certificate the peer presented is listed in the CRL. The file may be PEM (`X509 CRL`)
 * or DER, and is read again when it changes, so an operator can revoke a certificate
 * without a restart. Like etcd, only serials are compared: the CRL's dates and signature
 * are not checked (OpenSSL's own CRL check would refuse every client once a CRL's
 * nextUpdate has passed, which etcd does not).
 */
import * as fs from "node:fs";
import type * as tls from "node:tls";
import { ASN1Class, ASN1Form, parseASN1NoLeftoverBytes } from "@oslojs/asn1";

/** The revoked serial numbers of a CRL in PEM or DER, or what is wrong with it. */
export function revokedSerials(bytes: Uint8Array): Set<bigint> | Error {
  const pem = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(
    new TextDecoder("latin1").decode(bytes.subarray(0, Math.min(bytes.length, 1 << 20))),
  );
  const der = pem === null ? bytes : Buffer.from(pem[1].replace(/\s+/g, ""), "base64");
  try {
    // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
    const tbs = parseASN1NoLeftoverBytes(der).sequence().at(0).sequence().elements;
    // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer, thisUpdate,
    //   nextUpdate Time OPTIONAL, revokedCertificates SEQUENCE OF SEQUENCE OPTIONAL,
    //   crlExtensions [0] OPTIONAL }
    let i = isUniversal(tbs[0], INTEGER) ? 1 : 0;
    i += 3; // signature, issuer, thisUpdate
    if (tbs[i] !== undefined && (isUniversal(tbs[i], UTC_TIME) || isUniversal(tbs[i], GENERALIZED_TIME))) i++;
    const serials = new Set<bigint>();
    if (tbs[i] === undefined || !isUniversal(tbs[i], SEQUENCE)) return serials;
    for (const entry of tbs[i].sequence().elements) serials.add(entry.sequence().at(0).integer().value);
    return serials;
  } catch (e) {
    return new Error(`x509: malformed crl: ${(e as Error).message}`);
  }
}

const INTEGER = 2;
const SEQUENCE = 16;
const UTC_TIME = 23;
const GENERALIZED_TIME = 24;

function isUniversal(v: { class: ASN1Class; form: ASN1Form; tag: number }, tag: number): boolean {
  return v.class === ASN1Class.Universal && v.tag === tag;
}

/** Go's `%x` of the serial's bytes: lowercase, two digits a byte. */
function evenHex(n: bigint): string {
  const hex = n.toString(16);
  return hex.length % 2 === 0 ? hex : "0" + hex;
}

/** A CRL file, read again whenever its size or modification time changes. */
export class CrlFile {
  readonly #path: string;
  #stamp = "";
  #serials: Set<bigint> | Error = new Set();

  /** Reads `path` now; throws with the reason if it cannot be read or parsed. */
  constructor(path: string) {
    this.#path = path;
    const first = this.#current();
    if (first instanceof Error) throw new Error(`cannot use CRL ${path}: ${first.message}`);
  }

  #current(): Set<bigint> | Error {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.#path);
    } catch (e) {
      return e as Error;
    }
    const stamp = `${st.size}:${st.mtimeMs}`;
    if (stamp !== this.#stamp) {
      this.#stamp = stamp;
      try {
        this.#serials = revokedSerials(fs.readFileSync(this.#path));
      } catch (e) {
        this.#serials = e as Error;
      }
    }
    return this.#serials;
  }

  /**
   * Why a connection whose handshake is done must be refused, or null. A CRL that can no
   * longer be read refuses everyone, as etcd's per-handshake read does.
   */
  refusal(socket: tls.TLSSocket): string | null {
    const serials = this.#current();
    if (serials instanceof Error) return serials.message;
    const seen = new Set<string>();
    for (
      let c = socket.getPeerCertificate(true);
      c?.serialNumber && !seen.has(c.fingerprint256);
      c = c.issuerCertificate
    ) {
      seen.add(c.fingerprint256); // a self-signed root is its own issuer
      const serial = BigInt(`0x${c.serialNumber}`);
      if (serials.has(serial)) return `transport: certificate serial ${evenHex(serial)} revoked`;
    }
    return null;
  }
}
