// The CA's revocation list: written as an X.509 v2 CRL that OpenSSL verifies, checked by chain
// verification for users, pilots and operators (and their proxies), picked up by a running
// verifier when the file changes, and not undone by deleting or forging the file.
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import forge from "node-forge";
import { createPublicKey } from "node:crypto";
import { ERR } from "../../schemas/index.ts";
import {
  buildCrl,
  readCrl,
  createProxy,
  issueCertificate,
  loadTrust,
  pkiPaths,
  readCa,
  readRevocationList,
  revokeCertificate,
  verifyChain,
  type CertificateAndKey,
} from "../../security/index.ts";
import { BITS, expectCode, usePki } from "./support/pki-fixture.ts";

const fixture = usePki();

function issue(kind: "user" | "pilot", cn: string, roles: string[] = []): CertificateAndKey {
  return issueCertificate({ caDir: fixture().dir, keyBits: BITS, kind, dn: `/DC=org/DC=pilot-wms/OU=People/CN=${cn}`, roles });
}

function serialOf(pem: string): string {
  return execFileSync("openssl", ["x509", "-noout", "-serial"], { input: pem }).toString().trim().replace(/^serial=/, "");
}

describe("certificate revocation", () => {
  // A search of a few hundred RSA signatures (more with an unlucky CA key) took 11 s on a machine at
  // load 45: the default 30 s is too close.
  it("reads a CRL whose signature bytes happen to parse as DER (forge would decode that BIT STRING)", () => {
    // Search CRL numbers until the signature's bytes read as ASN.1 (about one in a few hundred):
    // such a CRL was refused as not signed by the CA, so a revocation did not take effect.
    const ca = readCa(fixture().dir);
    let found: string | undefined;
    for (let n = 1; n < 20_000 && found === undefined; n++) {
      const pem = buildCrl({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, entries: [], crlNumber: n, thisUpdate: 1_700_000_000_000, nextUpdate: 1_700_600_000_000 });
      const outer = forge.asn1.fromDer(forge.pem.decode(pem)[0].body).value as forge.asn1.Asn1[];
      if (typeof outer[2].value !== "string") found = pem;
    }
    expect(found, "no CRL number in range gave such a signature").toBeDefined();
    expect(readCrl(found!, createPublicKey(ca.certPem)).entries).toEqual([]);
  }, 120_000);

  it("writes a CRL that OpenSSL verifies against the CA and reads back with its serial and reason", () => {
    const victim = issue("user", "Crl Openssl");
    const r = revokeCertificate(fixture().dir, { certPem: victim.certPem, reason: "keyCompromise" });
    const crl = pkiPaths(fixture().dir).crl;
    const out = execFileSync("openssl", ["crl", "-in", crl, "-CAfile", path.join(fixture().dir, "ca.pem"), "-noout", "-text"], { stdio: ["ignore", "pipe", "pipe"] }).toString();
    expect(out).toContain(`Serial Number: ${serialOf(victim.certPem).toUpperCase()}`);
    expect(out).toContain("Key Compromise");
    expect(out).toMatch(new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${r.crlNumber}`));
    const verify = execFileSync("openssl", ["crl", "-in", crl, "-CAfile", path.join(fixture().dir, "ca.pem"), "-noout"], { stdio: ["ignore", "pipe", "pipe"] });
    expect(verify.toString()).toBe("");
    expect(readRevocationList(fixture().dir).entries.find((e) => e.serialHex === r.serialHex)?.reason).toBe("keyCompromise");
  });

  it("refuses a revoked user, pilot or operator certificate, and every proxy of it, with 1715", () => {
    const trust = loadTrust(fixture().dir, { crlCheckMs: 0 });
    const user = issue("user", "Revoked User");
    const pilot = issue("pilot", "revoked-pilot");
    const operator = issue("user", "Revoked Operator", ["operator"]);
    const proxy = createProxy({ certPem: user.certPem, keyPem: user.keyPem, lifetimeSec: 600, keyBits: BITS });
    for (const c of [user, pilot, operator]) expect(verifyChain([c.certPem], trust).dn).toMatch(/CN=/);
    expect(verifyChain(proxy.chain, trust).isProxy).toBe(true);

    for (const c of [user, pilot, operator]) revokeCertificate(fixture().dir, { certPem: c.certPem, reason: "privilegeWithdrawn" });
    for (const c of [user, pilot, operator]) expect(() => verifyChain([c.certPem], trust)).toThrowError(expect.objectContaining({ code: ERR.SEC_CERT_REVOKED }));
    const e = (() => {
      try {
        verifyChain(proxy.chain, trust);
      } catch (err) {
        return err as Error & { code: number };
      }
      throw new Error("the proxy of a revoked certificate verified");
    })();
    expect(e.code).toBe(ERR.SEC_CERT_REVOKED);
    expect(e.message).toMatch(/CN=Revoked User \(serial [0-9a-f]+\) was revoked at .* \(privilegeWithdrawn\)/);
    // Others of the same CA are untouched.
    expect(verifyChain([fixture().otherUser.certPem], trust).dn).toContain("John Roe");
  });

  it("takes a revocation by serial number, in the form openssl prints it", async () => {
    const trust = loadTrust(fixture().dir, { crlCheckMs: 0 });
    const c = issue("user", "By Serial");
    expect(verifyChain([c.certPem], trust).dn).toContain("By Serial");
    revokeCertificate(fixture().dir, { serialHex: serialOf(c.certPem) });
    await expectCode(() => verifyChain([c.certPem], trust), ERR.SEC_CERT_REVOKED);
  });

  it("a running verifier picks a new CRL up after its check interval, without being reloaded", async () => {
    const crlCheckMs = 300;
    const trust = loadTrust(fixture().dir, { crlCheckMs });
    const c = issue("pilot", "watched-pilot");
    // Verified and cached before the revocation...
    expect(verifyChain([c.certPem], trust).kind).toBe("pilot");
    revokeCertificate(fixture().dir, { certPem: c.certPem });
    // ...and refused by a verification that starts once the interval has passed since the file was
    // written, although its verification was cached. The bound is on when that verification starts
    // (a later one only finds the file older), not on how long a loop of them takes on a loaded machine.
    await new Promise((r) => setTimeout(r, crlCheckMs + 100));
    expect(() => verifyChain([c.certPem], trust)).toThrow(expect.objectContaining({ code: ERR.SEC_CERT_REVOKED }));
  });

  it("keeps the last good list when the CRL file is deleted, replaced by a foreign CA's, or an older one", () => {
    const dir = fixture().dir;
    const crl = pkiPaths(dir).crl;
    const trust = loadTrust(dir, { crlCheckMs: 0 });
    const c = issue("user", "Stays Revoked");
    const before = readFileSync(crl, "utf8");
    revokeCertificate(dir, { certPem: c.certPem });
    const expectRevoked = (): void => expect(() => verifyChain([c.certPem], trust)).toThrowError(expect.objectContaining({ code: ERR.SEC_CERT_REVOKED }));
    expectRevoked();
    const saved = `${crl}.saved`;
    copyFileSync(crl, saved);
    try {
      // A backup from before the revocation (a lower CRL number) does not un-revoke.
      writeFileSync(crl, before);
      expectRevoked();
      // Nor does an empty list signed by the foreign CA of the same DN.
      const foreign = readCa(path.join(path.dirname(dir), "foreign"));
      writeFileSync(crl, buildCrl({ caCertPem: foreign.certPem, caKeyPem: foreign.keyPem, entries: [], crlNumber: 999, thisUpdate: Date.now(), nextUpdate: Date.now() + 3600_000 }));
      expectRevoked();
      expect(trust.revocation.lastError).toMatch(/not signed by the CA/);
      rmSync(crl);
      expectRevoked();
      // A fresh verifier refuses to start on a CRL it cannot verify rather than run without one.
      writeFileSync(crl, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
      expect(() => loadTrust(dir)).toThrowError(expect.objectContaining({ code: ERR.BAD_CONFIG }));
    } finally {
      copyFileSync(saved, crl);
      rmSync(saved);
    }
  });

  it("refuses to revoke a certificate of another CA, and a serial that is not hex", async () => {
    await expectCode(() => revokeCertificate(fixture().dir, { certPem: fixture().foreignUser.certPem }), ERR.SEC_UNTRUSTED_CA);
    await expectCode(() => revokeCertificate(fixture().dir, { serialHex: "12g4" }), ERR.BAD_INPUT);
  });
});
