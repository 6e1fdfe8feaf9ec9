// RFC 3820 proxy certificates: signed by the holder's own key (not the CA), subject = issuer
// subject + one CN (the proxy's serial), a critical proxyCertInfo extension, short-lived. The VO
// attribute extension is copied forward so the proxy carries the roles the CA signed.
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";
import { buildCertificate, randomSerialHex } from "./certificate-builder.ts";
import { extensionById } from "./certificate-extension.ts";
import { formatDn } from "./dn.ts";
import { generateRsaKeyPair } from "./key-pair.ts";
import { ATTRIBUTES_OID, PROXY_CERT_INFO_OID, PROXY_POLICY_INHERIT_ALL_OID } from "./oids.ts";

export interface ProxyCredential {
  readonly certPem: string;
  readonly keyPem: string;
  /** Proxy first, then its issuer, up to (not including) the CA. */
  readonly chain: string[];
}

export interface CreateProxyOptions {
  /** The issuing certificate: the user's end-entity certificate or an existing proxy. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The issuer's own chain when it is itself a proxy (issuer first). */
  readonly chain?: readonly string[];
  readonly lifetimeSec: number;
  /** RSA modulus size of the proxy's new key; default 2048. */
  readonly keyBits?: number;
  /** RFC 3820 pCPathLenConstraint: how many proxies may be made below this one (none: unlimited). */
  readonly pathLenConstraint?: number;
  /**
   * DER of an attribute extension to carry instead of the issuer's. Only the CA can sign one that
   * verifies; tests use this to play a user who forges roles.
   */
  readonly attributesDer?: string;
}

/**
 * A user proxy lives 24 h by default (the VOMS/Globus default of 12 h doubled for a day's work):
 * long enough for a day of submissions, short enough that a stolen one is soon worthless. It is
 * renewable: `wms proxy init` delegates a new one when less than half remains, and pilots renew
 * what they retrieved during long payloads.
 */
export const USER_PROXY_DEFAULT_HOURS = 24;

const { asn1 } = forge;
const BACKDATE_MS = 5 * 60_000;

// ProxyCertInfo ::= SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL, proxyPolicy ProxyPolicy }
// ProxyPolicy ::= SEQUENCE { policyLanguage OID, policy OCTET STRING OPTIONAL }
function proxyCertInfoDer(pathLen: number | undefined): string {
  const policy = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(PROXY_POLICY_INHERIT_ALL_OID).getBytes()),
  ]);
  const parts = pathLen === undefined ? [policy] : [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(pathLen).getBytes()), policy];
  return asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts)).getBytes();
}

export interface ProxyCertInfo {
  readonly pathLen: number | undefined;
  readonly policyLanguage: string;
}

/** Reads a proxyCertInfo extension value; undefined when it is not the RFC 3820 structure. */
export function decodeProxyCertInfo(der: string): ProxyCertInfo | undefined {
  try {
    const parts = asn1.fromDer(der).value as forge.asn1.Asn1[];
    const hasLen = parts.length === 2;
    const len = hasLen ? asn1.derToInteger(parts[0]?.value as string) : undefined;
    const policy = (parts[hasLen ? 1 : 0]?.value as forge.asn1.Asn1[] | undefined)?.[0];
    if (policy === undefined || policy.type !== asn1.Type.OID) return undefined;
    return { pathLen: len, policyLanguage: asn1.derToOid(policy.value as string) };
  } catch {
    return undefined;
  }
}

export function createProxy(opts: CreateProxyOptions): ProxyCredential {
  if (!(opts.lifetimeSec > 0)) throw new WmsError(ERR.BAD_INPUT, `proxy lifetime must be positive, got ${opts.lifetimeSec}s`);
  const keys = generateRsaKeyPair(opts.keyBits);
  const chain = issueProxy(opts, keys.publicKeyPem);
  return { certPem: chain[0] as string, keyPem: keys.privateKeyPem, chain };
}

export type SignProxyOptions = Omit<CreateProxyOptions, "keyBits">;

/**
 * A proxy certificate for someone else's public key, signed with the issuer's key: the delegation
 * step of myproxy-init and myproxy-logon (the holder of the new key pair sends only a request;
 * the private key never leaves it). Returns the new chain, proxy first.
 */
export function issueProxy(opts: SignProxyOptions, publicKeyPem: string): string[] {
  if (!(opts.lifetimeSec > 0)) throw new WmsError(ERR.BAD_INPUT, `proxy lifetime must be positive, got ${opts.lifetimeSec}s`);
  let issuer: forge.pki.Certificate;
  try {
    issuer = forge.pki.certificateFromPem(opts.certPem);
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `the issuing certificate is not a PEM RSA certificate (${(e as Error).message})`);
  }
  const issuerDn = formatDn(issuer.subject.attributes);
  const now = Date.now();
  const notBefore = Math.max(now - BACKDATE_MS, issuer.validity.notBefore.getTime());
  const notAfter = Math.min(now + opts.lifetimeSec * 1000, issuer.validity.notAfter.getTime());
  if (notAfter <= now) throw new WmsError(ERR.SEC_CERT_EXPIRED, `the issuing certificate ${issuerDn} expired at ${issuer.validity.notAfter.toISOString()}`);
  const serialHex = randomSerialHex();
  const attributes = opts.attributesDer ?? extensionById(issuer, ATTRIBUTES_OID)?.value;
  const certPem = buildCertificate(
    {
      subjectDn: `${issuerDn}/CN=${BigInt(`0x${serialHex}`).toString(10)}`,
      issuerDn,
      publicKeyPem,
      serialHex,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      extensions: [
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { id: PROXY_CERT_INFO_OID, critical: true, value: proxyCertInfoDer(opts.pathLenConstraint) },
        ...(attributes !== undefined ? [{ id: ATTRIBUTES_OID, critical: false, value: attributes }] : []),
      ],
    },
    opts.keyPem,
  );
  const rest = (opts.chain ?? []).filter((c) => c.trim() !== opts.certPem.trim());
  return [certPem, opts.certPem, ...rest];
}
