// One service's share of the PKI folder, for a deployment where services do not share a disk
// (compose volumes, hosts): the CA certificate and its CRL (to verify chains and revocations), the
// service's own certificate and key when it has one, and the seal keys of the purposes it is an
// end of (SEAL_PURPOSES), nothing else: never the CA key, the users' keys or another service's key.
// The result is a PKI folder the service reads as it reads the whole one (config pki.dir).
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ERR, WmsError } from "../schemas/index.ts";
import { pkiPaths, SERVICE_ROLES, type ServiceName } from "./pki-directory.ts";
import { SEAL_PURPOSES, sealKeysPath, type SealPurpose } from "./seal-keys.ts";
import { CRL_FILE } from "./trust-store.ts";

/** The services a share can be made for: those holding a service certificate or a seal key. */
export const PKI_EXPORT_ROLES = ["intake", "matchmaker", "credentials", "agents"] as const;
export type PkiExportRole = (typeof PKI_EXPORT_ROLES)[number];

/** Marks a folder as an export, so a second export may replace its contents (and nothing else's). */
const MARKER = ".wms-pki-export";

/** The files (relative to the PKI folder) a role's share holds. */
export function pkiShareFiles(role: PkiExportRole): string[] {
  const files = ["ca.pem", CRL_FILE];
  if (role in SERVICE_ROLES) {
    const own = pkiPaths(".").service(role as ServiceName);
    files.push(path.normalize(own.certPath), path.normalize(own.keyPath));
  }
  for (const [purpose, holders] of Object.entries(SEAL_PURPOSES) as [SealPurpose, readonly string[]][]) {
    if (holders.includes(role)) files.push(path.normalize(sealKeysPath(".", purpose)));
  }
  return files;
}

/**
 * Writes `role`'s share of the PKI folder `caDir` into `outDir` (made if missing; an earlier export
 * there is replaced, any other non-empty folder refused). Secret files stay mode 0600.
 */
export function exportServicePki(caDir: string, role: PkiExportRole, outDir: string): string[] {
  if (!PKI_EXPORT_ROLES.includes(role)) throw new WmsError(ERR.USAGE, `no PKI share for '${role}'; one of ${PKI_EXPORT_ROLES.join(", ")}`);
  const files = pkiShareFiles(role);
  for (const f of files) {
    if (!existsSync(path.join(caDir, f))) throw new WmsError(ERR.FILE_UNREADABLE, `${path.join(caDir, f)} is missing; run 'wms pki init --dir ${caDir}' (or 'wms pki rotate-seal-key --dir ${caDir}' for a seal key)`);
  }
  mkdirSync(outDir, { recursive: true, mode: 0o755 });
  const present = readdirSync(outDir);
  if (present.length > 0 && !present.includes(MARKER)) throw new WmsError(ERR.USAGE, `${outDir} is not empty and not an earlier PKI export; give an empty folder`);
  // A mount point stays; what is in it goes, so a file the role no longer needs does not linger.
  for (const e of present) rmSync(path.join(outDir, e), { recursive: true, force: true });
  for (const f of files) {
    const to = path.join(outDir, f);
    mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    copyFileSync(path.join(caDir, f), to);
    chmodSync(to, f.endsWith(".pem") && !f.endsWith(".key.pem") ? 0o644 : 0o600);
  }
  writeFileSync(path.join(outDir, MARKER), `${role}\n`);
  return files;
}
