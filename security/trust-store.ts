// The CA bundle a party trusts, loaded once, with the CA keys ready for node:crypto and a small
// cache of chains already verified (the pilot sees the same matchmaker certificate on every
// envelope; re-parsing it with node-forge each time would dominate envelope verification).
import { X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import forge from "node-forge";
import { ERR, WmsError } from "../schemas/index.ts";
import { CrlWatch } from "./crl-watch.ts";
import { formatDn } from "./dn.ts";

export interface TrustedCa {
  readonly dn: string;
  readonly pem: string;
  readonly x509: X509Certificate;
  readonly publicKey: KeyObject;
}

export interface CachedChain<T> {
  readonly value: T;
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface TrustStore {
  readonly cas: readonly TrustedCa[];
  /** CA public keys by DN, for the attribute signatures. */
  readonly caKeys: ReadonlyMap<string, KeyObject>;
  /** Internal: verified chains keyed by their PEM text; see chain-verification.ts. */
  readonly verified: Map<string, CachedChain<unknown>>;
  /** The CA's revocation list, kept current from its file (a PKI folder's ca.crl.pem). */
  readonly revocation: CrlWatch<TrustedCa>;
}

export interface LoadTrustOptions {
  /** The CRL file; default `ca.crl.pem` in the PKI folder when `loadTrust` is given a folder. */
  readonly crlFile?: string;
  /** How often verifiers look for a changed CRL (default 1 s). */
  readonly crlCheckMs?: number;
}

const PEM_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPems(text: string): string[] {
  return text.match(PEM_RE) ?? [];
}

function readBundle(source: string): string {
  if (source.includes("-----BEGIN")) return source;
  let file = source;
  try {
    if (existsSync(source) && statSync(source).isDirectory()) file = path.join(source, "ca.pem");
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new WmsError(ERR.FILE_UNREADABLE, `CA bundle ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; run 'wms pki init' or set pki.dir`);
  }
}

/**
 * From a PKI folder (its ca.pem and ca.crl.pem), a PEM file, or PEM text holding one or more CA
 * certificates. A CRL present at load must verify (BAD_CONFIG otherwise).
 */
export function loadTrust(caDirOrPem: string, opts: LoadTrustOptions = {}): TrustStore {
  const pems = splitPems(readBundle(caDirOrPem));
  if (pems.length === 0) throw new WmsError(ERR.BAD_INPUT, "the CA bundle holds no PEM certificate");
  const cas = pems.map((pem) => {
    const x509 = new X509Certificate(pem);
    const dn = formatDn(forge.pki.certificateFromPem(pem).subject.attributes);
    if (!x509.ca) throw new WmsError(ERR.BAD_INPUT, `${dn} in the CA bundle is not a CA certificate`);
    return { dn, pem, x509, publicKey: x509.publicKey };
  });
  const crlFile = opts.crlFile ?? (isFolder(caDirOrPem) ? path.join(caDirOrPem, CRL_FILE) : undefined);
  return { cas, caKeys: new Map(cas.map((c) => [c.dn, c.publicKey])), verified: new Map(), revocation: new CrlWatch(crlFile, cas, opts.crlCheckMs) };
}

/** The CRL's name in a PKI folder. */
export const CRL_FILE = "ca.crl.pem";

function isFolder(source: string): boolean {
  if (source.includes("-----BEGIN")) return false;
  try {
    return statSync(source).isDirectory();
  } catch {
    return false;
  }
}
