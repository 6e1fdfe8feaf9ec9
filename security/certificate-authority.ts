// Pure certificate issuing: a CA and the user, pilot and service certificates it signs. No file
// system here; pki-directory.ts stores the results.
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";
import { encodeAttributeExtension, type CertificateKind } from "./attribute-certificate.ts";
import { buildCertificate, randomSerialHex } from "./certificate-builder.ts";
import { formatDn, parseDn } from "./dn.ts";
import { generateRsaKeyPair } from "./key-pair.ts";
import { ATTRIBUTES_OID } from "./oids.ts";

export interface CertificateAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssueRequest {
  readonly kind: "user" | "pilot" | "service";
  readonly dn: string;
  readonly vo: string;
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
  readonly days?: number;
  /** RSA modulus size; default 2048. */
  readonly keyBits?: number;
}

const DAY_MS = 86_400_000;
/**
 * Service certificates live at most a year (the CA/Browser Forum's direction for server
 * certificates; a stolen service key is worth less when it expires soon, and revocation covers
 * the rest). User and pilot certificates default to a year and may be issued for up to ten.
 */
export const SERVICE_MAX_DAYS = 365;
export const DEFAULT_CERT_DAYS = 365;
const MAX_CERT_DAYS = 3650;
// Issued certificates start a little in the past so a verifier whose clock lags still accepts them.
const BACKDATE_MS = 5 * 60_000;

export function createCa(opts: { dn: string; days?: number; keyBits?: number }): CertificateAndKey {
  parseDn(opts.dn);
  const keys = generateRsaKeyPair(opts.keyBits);
  const now = Date.now();
  const certPem = buildCertificate(
    {
      subjectDn: opts.dn,
      issuerDn: opts.dn,
      publicKeyPem: keys.publicKeyPem,
      serialHex: randomSerialHex(),
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + (opts.days ?? 3650) * DAY_MS),
      extensions: [
        { name: "basicConstraints", cA: true, critical: true },
        { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
        { name: "subjectKeyIdentifier" },
      ],
    },
    keys.privateKeyPem,
  );
  return { certPem, keyPem: keys.privateKeyPem };
}

/** Roles every certificate of a kind carries, so `role:pilot` finds every pilot certificate. */
function defaultRoles(kind: IssueRequest["kind"]): string[] {
  return kind === "pilot" ? ["pilot"] : kind === "user" ? ["user"] : [];
}

export function issueFromCa(ca: CertificateAndKey, req: IssueRequest): CertificateAndKey {
  parseDn(req.dn);
  const days = req.days ?? DEFAULT_CERT_DAYS;
  const maxDays = req.kind === "service" ? SERVICE_MAX_DAYS : MAX_CERT_DAYS;
  if (!(days > 0 && days <= maxDays)) throw new WmsError(ERR.BAD_INPUT, `--days must be between 1 and ${maxDays} for a ${req.kind} certificate, got ${days}`);
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caDn = formatDn(caCert.subject.attributes);
  const keys = generateRsaKeyPair(req.keyBits);
  const now = Date.now();
  const notBefore = now - BACKDATE_MS;
  const notAfter = Math.min(now + days * DAY_MS, caCert.validity.notAfter.getTime());
  const serialHex = randomSerialHex();
  const roles = [...new Set([...defaultRoles(req.kind), ...(req.roles ?? [])])];
  const attributes = encodeAttributeExtension(
    { holderDn: req.dn, holderSerial: serialHex, issuerDn: caDn, kind: req.kind, vo: req.vo, groups: [...(req.groups ?? [])], roles, notBefore, notAfter },
    ca.keyPem,
  );
  const certPem = buildCertificate(
    {
      subjectDn: req.dn,
      issuerDn: caDn,
      publicKeyPem: keys.publicKeyPem,
      serialHex,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      extensions: [
        { name: "basicConstraints", cA: false, critical: true },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { name: "extKeyUsage", clientAuth: true, serverAuth: req.kind === "service" },
        { name: "subjectKeyIdentifier" },
        { id: ATTRIBUTES_OID, critical: false, value: attributes },
      ],
    },
    ca.keyPem,
  );
  return { certPem, keyPem: keys.privateKeyPem };
}

export type { CertificateKind };
