// The certificate request of MyProxy's delegation (myproxy-init, myproxy-logon): whoever will hold
// a proxy makes the key pair and sends a PKCS#10 request (RFC 2986) for it; the delegator signs a
// proxy certificate for the request's public key (proxy-certificate.ts issueProxy). The request's
// signature proves its sender holds the private key; only the public key is taken from it, never
// the subject (RFC 3820 fixes a proxy's subject from its issuer).
import { createPrivateKey, sign } from "node:crypto";
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";
import { generateRsaKeyPairAsync, type KeyPairPem } from "./key-pair.ts";

export interface ProxyRequest {
  readonly csrPem: string;
  /** Stays with the requester. */
  readonly keyPem: string;
}

const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";

/** A request for a fresh key pair (made off the event loop), or for `keys` when given. */
export async function createProxyRequest(o: { keyBits?: number; keys?: KeyPairPem; cn?: string } = {}): Promise<ProxyRequest> {
  const keys = o.keys ?? (await generateRsaKeyPairAsync(o.keyBits));
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  csr.setSubject([{ name: "commonName", value: o.cn ?? "proxy request" }]);
  csr.signatureOid = SHA256_WITH_RSA;
  (csr as unknown as { siginfo: { algorithmOid: string } }).siginfo.algorithmOid = SHA256_WITH_RSA;
  // Signed by node:crypto, as certificates are (certificate-builder.ts): forge's RSA private-key
  // operation is pure JS and ~10x slower.
  const info = (forge.pki as unknown as { getCertificationRequestInfo(c: forge.pki.CertificateSigningRequest): forge.asn1.Asn1 }).getCertificationRequestInfo(csr);
  const der = Buffer.from(forge.asn1.toDer(info).getBytes(), "binary");
  (csr as unknown as { certificationRequestInfo: forge.asn1.Asn1 }).certificationRequestInfo = info;
  csr.signature = sign("sha256", der, createPrivateKey(keys.privateKeyPem)).toString("binary");
  return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: keys.privateKeyPem };
}

/** The request's public key (PEM), after checking the request is signed by its key. BAD_INPUT otherwise. */
export function readProxyRequest(csrPem: string): string {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `the certificate request does not parse as a PEM PKCS#10 RSA request (${(e as Error).message})`);
  }
  let ok = false;
  try {
    ok = csr.verify();
  } catch {
    ok = false;
  }
  if (!ok || csr.publicKey === null) throw new WmsError(ERR.BAD_INPUT, "the certificate request is not signed by the key it asks a certificate for");
  const pub = csr.publicKey as forge.pki.rsa.PublicKey;
  if (pub.n.bitLength() < 1024) throw new WmsError(ERR.BAD_INPUT, `the requested key has ${pub.n.bitLength()} bits; at least 1024 are needed`);
  return forge.pki.publicKeyToPem(pub);
}
