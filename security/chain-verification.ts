// Chain validation as Globus/VOMS do it: the end-entity certificate is signed by a CA we trust,
// each proxy below it obeys RFC 3820's path rules and is signed by the certificate above it,
// every certificate is inside its validity, the end entity is not on the CA's revocation list
// (RFC 5280 s. 6.3), and the VO attributes carry the CA's signature.
import { X509Certificate, type KeyObject } from "node:crypto";
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";
import { verifyAttributeExtension, type CertificateKind } from "./attribute-certificate.ts";
import { extensionById } from "./certificate-extension.ts";
import { formatDn } from "./dn.ts";
import { ATTRIBUTES_OID, PROXY_CERT_INFO_OID, PROXY_POLICY_INDEPENDENT_OID, PROXY_POLICY_INHERIT_ALL_OID } from "./oids.ts";
import { decodeProxyCertInfo } from "./proxy-certificate.ts";
import type { TrustStore } from "./trust-store.ts";

export interface VerifiedIdentity {
  /** The end-entity (user, pilot or service) DN, proxies resolved: the name jobs and policies use. */
  readonly dn: string;
  /** The leaf certificate's own subject (a proxy's has extra CNs). */
  readonly subjectDn: string;
  readonly caDn: string;
  readonly kind: CertificateKind;
  readonly vo: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  /** Epoch ms the earliest certificate or the attributes expire. */
  readonly notAfter: number;
  readonly isProxy: boolean;
  /** The leaf certificate's public key, to check what it signed. */
  readonly publicKey: KeyObject;
}

interface ParsedCert {
  readonly pem: string;
  readonly x509: X509Certificate;
  readonly forge: forge.pki.Certificate;
  readonly subjectDn: string;
  readonly issuerDn: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly isCa: boolean;
  readonly isProxy: boolean;
}

const CACHE_LIMIT = 1024;
const ACCEPTED_POLICIES = new Set([PROXY_POLICY_INHERIT_ALL_OID, PROXY_POLICY_INDEPENDENT_OID]);

function parse(pem: string, index: number): ParsedCert {
  try {
    const x509 = new X509Certificate(pem);
    const f = forge.pki.certificateFromPem(pem);
    const bc = f.getExtension("basicConstraints") as { cA?: boolean } | null;
    return {
      pem,
      x509,
      forge: f,
      subjectDn: formatDn(f.subject.attributes),
      issuerDn: formatDn(f.issuer.attributes),
      notBefore: f.validity.notBefore.getTime(),
      notAfter: f.validity.notAfter.getTime(),
      isCa: bc?.cA === true,
      isProxy: extensionById(f, PROXY_CERT_INFO_OID) !== null,
    };
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `certificate ${index} of the chain does not parse as a PEM RSA certificate (${(e as Error).message})`);
  }
}

function checkDates(c: ParsedCert, at: number): void {
  if (at < c.notBefore || at > c.notAfter) {
    throw new WmsError(ERR.SEC_CERT_EXPIRED, `${c.subjectDn} is valid from ${new Date(c.notBefore).toISOString()} to ${new Date(c.notAfter).toISOString()}`);
  }
}

function verifyUncached(chainPems: readonly string[], trust: TrustStore, at: number): { identity: VerifiedIdentity; notBefore: number } {
  if (chainPems.length === 0) throw new WmsError(ERR.BAD_INPUT, "the certificate chain is empty");
  const trustedPems = new Set(trust.cas.map((c) => c.pem.trim()));
  // A sender may append the CA itself; it adds nothing we do not already trust.
  const certs = chainPems.filter((p) => !trustedPems.has(p.trim())).map(parse);
  const top = certs[certs.length - 1];
  if (top === undefined) throw new WmsError(ERR.SEC_UNTRUSTED_CA, "the chain holds only CA certificates, no end entity");
  const ca = trust.cas.find((c) => c.dn === top.issuerDn && top.x509.verify(c.publicKey));
  if (ca === undefined) throw new WmsError(ERR.SEC_UNTRUSTED_CA, `${top.subjectDn} (issuer ${top.issuerDn}) is not signed by a CA in the trust bundle`);
  if (top.isCa) throw new WmsError(ERR.SEC_UNTRUSTED_CA, `${top.subjectDn} is an intermediate CA; only end-entity certificates are accepted`);
  if (top.isProxy) throw new WmsError(ERR.SEC_BAD_PROXY, `${top.subjectDn} is a proxy signed directly by the CA`);
  checkDates(top, at);
  // Only the end entity is the CA's to revoke; its proxies die with it because they chain to it.
  const revoked = trust.revocation.revokedBy(ca, top.forge.serialNumber);
  if (revoked !== undefined) {
    throw new WmsError(ERR.SEC_CERT_REVOKED, `${top.subjectDn} (serial ${revoked.serialHex}) was revoked at ${new Date(revoked.revokedAt).toISOString()} (${revoked.reason})`);
  }

  for (let i = certs.length - 2; i >= 0; i--) {
    const child = certs[i] as ParsedCert;
    const parent = certs[i + 1] as ParsedCert;
    if (!child.isProxy) throw new WmsError(ERR.SEC_BAD_PROXY, `${child.subjectDn} follows ${parent.subjectDn} in the chain but is not a proxy certificate`);
    const pci = extensionById(child.forge, PROXY_CERT_INFO_OID);
    if (pci?.critical !== true) throw new WmsError(ERR.SEC_BAD_PROXY, `${child.subjectDn}: proxyCertInfo must be critical`);
    const info = decodeProxyCertInfo(pci.value ?? "");
    // Only policies we understand: "inherit all" and "independent". Anything else (e.g. Globus
    // "limited") restricts the proxy in ways this verifier cannot enforce, so it is refused.
    if (info === undefined || !ACCEPTED_POLICIES.has(info.policyLanguage)) throw new WmsError(ERR.SEC_BAD_PROXY, `${child.subjectDn}: proxy policy not understood`);
    if (info.pathLen !== undefined && i > info.pathLen) throw new WmsError(ERR.SEC_BAD_PROXY, `${child.subjectDn} allows ${info.pathLen} proxies below it; the chain has ${i}`);
    if (child.isCa) throw new WmsError(ERR.SEC_BAD_PROXY, `${child.subjectDn}: a proxy may not be a CA`);
    if (child.issuerDn !== parent.subjectDn) throw new WmsError(ERR.SEC_BAD_PROXY, `${child.subjectDn} names issuer ${child.issuerDn}, not ${parent.subjectDn}`);
    const rest = child.subjectDn.slice(parent.subjectDn.length);
    if (!child.subjectDn.startsWith(parent.subjectDn) || !/^\/CN=[^/]+$/.test(rest)) {
      throw new WmsError(ERR.SEC_BAD_PROXY, `${child.subjectDn} must be its issuer's subject plus one CN`);
    }
    const ku = parent.forge.getExtension("keyUsage") as { digitalSignature?: boolean } | null;
    if (ku !== null && ku.digitalSignature !== true) throw new WmsError(ERR.SEC_BAD_PROXY, `${parent.subjectDn} may not sign proxies (keyUsage)`);
    if (!child.x509.verify(parent.x509.publicKey)) throw new WmsError(ERR.SEC_BAD_SIGNATURE, `${child.subjectDn} is not signed by ${parent.subjectDn}`);
    checkDates(child, at);
  }

  const leaf = certs[0] as ParsedCert;
  const withAttrs = certs.find((c) => extensionById(c.forge, ATTRIBUTES_OID) !== null);
  if (withAttrs === undefined) throw new WmsError(ERR.SEC_BAD_ATTRIBUTES, `${leaf.subjectDn} carries no VO attributes`);
  const der = extensionById(withAttrs.forge, ATTRIBUTES_OID)?.value ?? "";
  const attrs = verifyAttributeExtension(der, { caKeys: trust.caKeys, holderDn: top.subjectDn, holderSerial: top.forge.serialNumber, at });
  const notAfter = Math.min(attrs.notAfter, ...certs.map((c) => c.notAfter));
  const notBefore = Math.max(attrs.notBefore, ...certs.map((c) => c.notBefore));
  return {
    identity: {
      dn: top.subjectDn,
      subjectDn: leaf.subjectDn,
      caDn: ca.dn,
      kind: attrs.kind,
      vo: attrs.vo,
      groups: attrs.groups,
      roles: attrs.roles,
      notAfter,
      isProxy: certs.length > 1,
      publicKey: leaf.x509.publicKey,
    },
    notBefore,
  };
}

/**
 * Verifies a chain (leaf first) against the trust store at `at` (default now). Results are cached
 * per chain text; a cached chain is still checked against `at`, and any failure re-runs in full
 * so the caller gets the precise error.
 */
export function verifyChain(chainPems: readonly string[], trust: TrustStore, opts: { at?: number } = {}): VerifiedIdentity {
  const at = opts.at ?? Date.now();
  // A new CRL invalidates every chain verified before it (the look at the file is throttled).
  const generation = trust.revocation.generation;
  trust.revocation.refresh();
  if (trust.revocation.generation !== generation) trust.verified.clear();
  const key = chainPems.join("\n");
  const hit = trust.verified.get(key);
  if (hit !== undefined && at >= hit.notBefore && at <= hit.notAfter) return hit.value as VerifiedIdentity;
  const { identity, notBefore } = verifyUncached(chainPems, trust, at);
  if (trust.verified.size >= CACHE_LIMIT) trust.verified.clear();
  trust.verified.set(key, { value: identity, notBefore, notAfter: identity.notAfter });
  return identity;
}
