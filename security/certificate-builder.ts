// Builds an X.509 certificate with node-forge (which can write any extension we need, including
// RFC 3820's proxyCertInfo and our attribute extension) and signs its TBS bytes with node:crypto:
// forge's pure-JS RSA private-key operation costs ~10x OpenSSL's, and proxies are made often.
import { createPrivateKey, randomBytes, sign, type KeyObject } from "node:crypto";
import forge from "node-forge";
import { parseDn } from "./dn.ts";

export interface CertificateSpec {
  readonly subjectDn: string;
  readonly issuerDn: string;
  readonly publicKeyPem: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: ReadonlyArray<Record<string, unknown>>;
}

/** Positive, 16 bytes, as RFC 5280 asks (at most 20 octets, unpredictable). */
export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f | 0x10;
  return b.toString("hex");
}

export function buildCertificate(spec: CertificateSpec, issuerKey: string | KeyObject): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(spec.publicKeyPem);
  cert.serialNumber = spec.serialHex;
  cert.validity.notBefore = spec.notBefore;
  cert.validity.notAfter = spec.notAfter;
  cert.setSubject(parseDn(spec.subjectDn) as unknown as forge.pki.CertificateField[]);
  cert.setIssuer(parseDn(spec.issuerDn) as unknown as forge.pki.CertificateField[]);
  cert.setExtensions(spec.extensions.map((e) => ({ ...e })));
  const sha256WithRsa = forge.pki.oids.sha256WithRSAEncryption ?? "1.2.840.113549.1.1.11";
  cert.signatureOid = sha256WithRsa;
  cert.siginfo.algorithmOid = sha256WithRsa;
  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  const tbsDer = Buffer.from(forge.asn1.toDer(tbs).getBytes(), "binary");
  const key = typeof issuerKey === "string" ? createPrivateKey(issuerKey) : issuerKey;
  const signature = sign("sha256", tbsDer, key);
  // certificateToPem reuses tbsCertificate when present, so the signed bytes are the written bytes.
  (cert as unknown as { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  cert.signature = signature.toString("binary");
  return forge.pki.certificateToPem(cert);
}
