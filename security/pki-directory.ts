// The PKI folder `wms pki init` writes and every service reads: ca.pem, ca.key.pem (0600),
// ca.crl.pem (the revocation list), pki.json (the VO), services/<name>.cert.pem and .key.pem (0600),
// seals/<purpose>.keys (0600: the HMAC keys of the job-spec and one-time-key seals, seal-keys.ts).
import { createPublicKey, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";
import { createCa, issueFromCa, SERVICE_MAX_DAYS, type CertificateAndKey, type IssueRequest } from "./certificate-authority.ts";
import { buildCrl, normalizeSerial, readCrl, type RevocationList, type RevocationReason } from "./certificate-revocation.ts";
import { formatDn } from "./dn.ts";
import { CRL_FILE } from "./trust-store.ts";
import { createSealKeys, SEAL_PURPOSES, sealKeysPath, type SealPurpose } from "./seal-keys.ts";

/** The services that get a certificate at init, and the role each one's certificate carries. */
export const SERVICE_ROLES = { matchmaker: "matchmaker", credentials: "credentials", intake: "intake" } as const;
export type ServiceName = keyof typeof SERVICE_ROLES;

export const CA_DN_BASE = "/DC=org/DC=pilot-wms";

export interface PkiPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly meta: string;
  readonly crl: string;
  service(name: string): { readonly certPath: string; readonly keyPath: string };
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    caCert: path.join(dir, "ca.pem"),
    caKey: path.join(dir, "ca.key.pem"),
    meta: path.join(dir, "pki.json"),
    crl: path.join(dir, CRL_FILE),
    service: (name) => ({ certPath: path.join(dir, "services", `${name}.cert.pem`), keyPath: path.join(dir, "services", `${name}.key.pem`) }),
  };
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new WmsError(ERR.FILE_UNREADABLE, `${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; run 'wms pki init --dir DIR' first`);
  }
}

export interface InitPkiResult {
  readonly dir: string;
  readonly caDn: string;
  readonly vo: string;
  readonly services: ReadonlyArray<{ name: ServiceName; dn: string; certPath: string; keyPath: string }>;
}

export function initPki(dir: string, opts: { vo?: string; days?: number; keyBits?: number } = {}): InitPkiResult {
  const p = pkiPaths(dir);
  if (existsSync(p.caKey)) throw new WmsError(ERR.USAGE, `${dir} already holds a CA (${p.caKey}); pick another --dir or remove it`);
  const vo = opts.vo ?? "pilot-wms";
  const caDn = `${CA_DN_BASE}/OU=${vo}/CN=pilot-wms CA`;
  const ca = createCa({ dn: caDn, days: opts.days, keyBits: opts.keyBits });
  mkdirSync(path.join(dir, "services"), { recursive: true, mode: 0o755 });
  writeFileSync(p.caCert, ca.certPem, { mode: 0o644 });
  writeFileSync(p.caKey, ca.keyPem, { mode: 0o600 });
  writeFileSync(p.meta, JSON.stringify({ vo, caDn }, null, 2) + "\n", { mode: 0o644 });
  writeCrl(p.crl, ca, [], 1);
  const services = (Object.keys(SERVICE_ROLES) as ServiceName[]).map((name) => {
    const dn = `${CA_DN_BASE}/OU=${vo}/OU=Services/CN=${name}`;
    const issued = issueFromCa(ca, { kind: "service", dn, vo, roles: [SERVICE_ROLES[name]], days: SERVICE_MAX_DAYS, keyBits: opts.keyBits });
    const sp = p.service(name);
    writeFileSync(sp.certPath, issued.certPem, { mode: 0o644 });
    writeFileSync(sp.keyPath, issued.keyPem, { mode: 0o600 });
    return { name, dn, ...sp };
  });
  for (const purpose of Object.keys(SEAL_PURPOSES) as SealPurpose[]) createSealKeys(sealKeysPath(dir, purpose), purpose);
  return { dir, caDn, vo, services };
}

export function readCa(dir: string): CertificateAndKey & { vo: string } {
  const p = pkiPaths(dir);
  const certPem = read(p.caCert, "CA certificate");
  const keyPem = read(p.caKey, "CA key");
  let vo = "pilot-wms";
  if (existsSync(p.meta)) {
    const meta = JSON.parse(read(p.meta, "PKI metadata")) as { vo?: unknown };
    if (typeof meta.vo === "string") vo = meta.vo;
  }
  return { certPem, keyPem, vo };
}

export function issueCertificate(req: Omit<IssueRequest, "vo"> & { caDir: string; vo?: string }): CertificateAndKey {
  const ca = readCa(req.caDir);
  return issueFromCa(ca, { ...req, vo: req.vo ?? ca.vo });
}

/** A service's certificate and key from the PKI folder (e.g. the matchmaker's, to sign envelopes). */
export function readServiceCredentials(dir: string, name: ServiceName): CertificateAndKey {
  const sp = pkiPaths(dir).service(name);
  return { certPem: read(sp.certPath, `${name} certificate`), keyPem: read(sp.keyPath, `${name} key`) };
}

const DAY_MS = 86_400_000;
/**
 * How far ahead a CRL says the next one is due. Verifiers here read the file in place and do not
 * refuse a CRL past it (there is no distribution point to fetch a newer one from, and an old list
 * still holds every revocation made); other readers (openssl) see a date a week after each change.
 */
const CRL_NEXT_UPDATE_MS = 7 * DAY_MS;

// Write-then-rename: a verifier reading the file mid-change sees the old list or the new one.
function writeCrl(file: string, ca: CertificateAndKey, entries: RevocationList["entries"], crlNumber: number): void {
  const now = Date.now();
  const pem = buildCrl({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, entries, crlNumber, thisUpdate: now, nextUpdate: now + CRL_NEXT_UPDATE_MS });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, pem, { mode: 0o644 });
  renameSync(tmp, file);
}

/** The CA's current revocation list (an empty one when the folder has no CRL yet). */
export function readRevocationList(dir: string): RevocationList {
  const p = pkiPaths(dir);
  const caPem = read(p.caCert, "CA certificate");
  if (!existsSync(p.crl)) return { issuerDn: formatDn(forge.pki.certificateFromPem(caPem).subject.attributes), crlNumber: 0, thisUpdate: 0, nextUpdate: undefined, entries: [] };
  return readCrl(read(p.crl, "CRL"), createPublicKey(caPem));
}

export interface RevokeRequest {
  /** The certificate to revoke (PEM; the first certificate in the text), or its serial in hex. */
  readonly certPem?: string;
  readonly serialHex?: string;
  readonly reason?: RevocationReason;
}

export interface RevokeResult {
  readonly serialHex: string;
  readonly subjectDn: string | undefined;
  readonly alreadyRevoked: boolean;
  readonly crlNumber: number;
  readonly crlPath: string;
  readonly revokedCount: number;
}

/**
 * Adds a certificate to the CA's CRL and re-signs it (RFC 5280 s. 5). Running services pick the
 * new list up within a second (crl-watch.ts). Revoking twice keeps the first entry.
 */
export function revokeCertificate(dir: string, req: RevokeRequest): RevokeResult {
  const ca = readCa(dir);
  const p = pkiPaths(dir);
  let serialHex: string;
  let subjectDn: string | undefined;
  if (req.certPem !== undefined) {
    let cert: forge.pki.Certificate;
    try {
      cert = forge.pki.certificateFromPem(req.certPem);
    } catch (e) {
      throw new WmsError(ERR.BAD_INPUT, `the certificate to revoke is not a PEM RSA certificate (${(e as Error).message})`);
    }
    const caCert = forge.pki.certificateFromPem(ca.certPem);
    subjectDn = formatDn(cert.subject.attributes);
    if (formatDn(cert.issuer.attributes) !== formatDn(caCert.subject.attributes) || !new X509Certificate(req.certPem).verify(createPublicKey(ca.certPem))) {
      throw new WmsError(ERR.SEC_UNTRUSTED_CA, `${subjectDn} was not issued by this CA (${formatDn(caCert.subject.attributes)}); a proxy dies with the certificate that signed it, revoke that one`);
    }
    serialHex = normalizeSerial(cert.serialNumber);
  } else if (req.serialHex !== undefined) {
    serialHex = normalizeSerial(req.serialHex);
  } else {
    throw new WmsError(ERR.USAGE, "say which certificate to revoke: its file or its serial");
  }
  const current = readRevocationList(dir);
  const existing = current.entries.find((e) => e.serialHex === serialHex);
  const entries = existing !== undefined ? current.entries : [...current.entries, { serialHex, revokedAt: Date.now(), reason: req.reason ?? "unspecified" }];
  const crlNumber = current.crlNumber + 1;
  writeCrl(p.crl, ca, entries, crlNumber);
  return { serialHex, subjectDn, alreadyRevoked: existing !== undefined, crlNumber, crlPath: p.crl, revokedCount: entries.length };
}
