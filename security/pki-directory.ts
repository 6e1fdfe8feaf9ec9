// The PKI folder `wms pki init` writes and every service reads: ca.pem, ca.key.pem (0600),
// pki.json (the VO), services/<name>.cert.pem and .key.pem (0600).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ERR, WmsError } from "../schemas/index.ts";
import { createCa, issueFromCa, type CertificateAndKey, type IssueRequest } from "./certificate-authority.ts";

/** The services that get a certificate at init, and the role each one's certificate carries. */
export const SERVICE_ROLES = { matchmaker: "matchmaker", credentials: "credentials", intake: "intake" } as const;
export type ServiceName = keyof typeof SERVICE_ROLES;

export const CA_DN_BASE = "/DC=org/DC=pilot-wms";

export interface PkiPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly meta: string;
  service(name: string): { readonly certPath: string; readonly keyPath: string };
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    caCert: path.join(dir, "ca.pem"),
    caKey: path.join(dir, "ca.key.pem"),
    meta: path.join(dir, "pki.json"),
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
  if (existsSync(p.caKey)) throw new WmsError(ERR.BAD_INPUT, `${dir} already holds a CA (${p.caKey}); pick another --dir or remove it`);
  const vo = opts.vo ?? "pilot-wms";
  const caDn = `${CA_DN_BASE}/OU=${vo}/CN=pilot-wms CA`;
  const ca = createCa({ dn: caDn, days: opts.days, keyBits: opts.keyBits });
  mkdirSync(path.join(dir, "services"), { recursive: true, mode: 0o755 });
  writeFileSync(p.caCert, ca.certPem, { mode: 0o644 });
  writeFileSync(p.caKey, ca.keyPem, { mode: 0o600 });
  writeFileSync(p.meta, JSON.stringify({ vo, caDn }, null, 2) + "\n", { mode: 0o644 });
  const services = (Object.keys(SERVICE_ROLES) as ServiceName[]).map((name) => {
    const dn = `${CA_DN_BASE}/OU=${vo}/OU=Services/CN=${name}`;
    const issued = issueFromCa(ca, { kind: "service", dn, vo, roles: [SERVICE_ROLES[name]], days: 825, keyBits: opts.keyBits });
    const sp = p.service(name);
    writeFileSync(sp.certPath, issued.certPem, { mode: 0o644 });
    writeFileSync(sp.keyPath, issued.keyPem, { mode: 0o600 });
    return { name, dn, ...sp };
  });
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
