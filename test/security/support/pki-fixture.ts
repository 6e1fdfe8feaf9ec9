// One PKI per test file, built in beforeAll: a CA with its service certificates, two users (one
// with the production role), a pilot, and a second, foreign CA with a user of its own.
import { mkdtempSync, rmSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";
import { tmpdir } from "node:os";
import path from "node:path";
import { initPki, issueCertificate, loadTrust, readServiceCredentials, type CertificateAndKey, type TrustStore } from "../../../security/index.ts";

/** Test keys are 1024-bit: key strength is not what these tests attack, and 2048-bit generation is slow here. */
export const BITS = 1024;

export const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Jane Doe";
export const OTHER_USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=John Roe";
export const PILOT_DN = "/DC=org/DC=pilot-wms/OU=Pilots/CN=pilot owner";

export interface PkiFixture {
  readonly dir: string;
  readonly trust: TrustStore;
  readonly user: CertificateAndKey;
  readonly otherUser: CertificateAndKey;
  readonly pilot: CertificateAndKey;
  readonly matchmaker: CertificateAndKey;
  readonly intake: CertificateAndKey;
  /** Issued by another CA that has the very same DN as ours. */
  readonly foreignUser: CertificateAndKey;
  readonly foreignMatchmaker: CertificateAndKey;
  cleanup(): void;
}

export function buildPki(): PkiFixture {
  const root = mkdtempSync(path.join(tmpdir(), "wms-sec-"));
  const dir = path.join(root, "pki");
  const foreignDir = path.join(root, "foreign");
  initPki(dir, { vo: "atlas", keyBits: BITS });
  initPki(foreignDir, { vo: "atlas", keyBits: BITS });
  return {
    dir,
    trust: loadTrust(dir),
    user: issueCertificate({ caDir: dir, keyBits: BITS, kind: "user", dn: USER_DN, roles: ["production"], groups: ["/atlas/prod"] }),
    otherUser: issueCertificate({ caDir: dir, keyBits: BITS, kind: "user", dn: OTHER_USER_DN }),
    pilot: issueCertificate({ caDir: dir, keyBits: BITS, kind: "pilot", dn: PILOT_DN }),
    matchmaker: readServiceCredentials(dir, "matchmaker"),
    intake: readServiceCredentials(dir, "intake"),
    foreignUser: issueCertificate({ caDir: foreignDir, keyBits: BITS, kind: "user", dn: USER_DN, roles: ["production"] }),
    foreignMatchmaker: readServiceCredentials(foreignDir, "matchmaker"),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Builds the PKI before the file's tests and removes it after; read it through the getter inside tests. */
export function usePki(): () => PkiFixture {
  let pki: PkiFixture | undefined;
  beforeAll(() => {
    pki = buildPki();
  });
  afterAll(() => pki?.cleanup());
  return () => {
    if (!pki) throw new Error("usePki(): the PKI exists only inside tests");
    return pki;
  };
}

/** Expects `fn` to fail with WmsError `code`; returns the error for further checks. */
export async function expectCode(fn: () => unknown, code: number): Promise<Error & { code: number }> {
  try {
    await fn();
  } catch (e) {
    const err = e as Error & { code?: number };
    if (err.code !== code) throw new Error(`expected error code ${code}, got ${String(err.code)}: ${err.message}`);
    return err as Error & { code: number };
  }
  throw new Error(`expected error code ${code}, but it succeeded`);
}
