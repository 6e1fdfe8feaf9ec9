// A service's share of the PKI folder: what `wms pki export` copies for it, and what it never does.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { exportServicePki, HEARTBEAT_SEAL_PURPOSE, initPki, loadTrust, openSealVerifier, readServiceCredentials } from "../../security/index.ts";
import { BITS, expectCode } from "./support/pki-fixture.ts";

const root = mkdtempSync(path.join(tmpdir(), "wms-pki-export-"));
const caDir = path.join(root, "ca");
initPki(caDir, { keyBits: BITS });
afterAll(() => rmSync(root, { recursive: true, force: true }));

const listing = (d: string): string[] => (readdirSync(d, { recursive: true }) as string[]).filter((f) => !statSync(path.join(d, f)).isDirectory()).sort();

describe("wms pki export", () => {
  it("gives the matchmaker its own certificate and key, the CA certificate and CRL and its four seal keys; not the CA key", () => {
    const out = path.join(root, "matchmaker");
    exportServicePki(caDir, "matchmaker", out);
    expect(listing(out)).toEqual(
      [".wms-pki-export", "ca.crl.pem", "ca.pem", "seals/heartbeat.keys", "seals/job-spec.keys", "seals/one-time-key.keys", "seals/report-key.keys", "services/matchmaker.cert.pem", "services/matchmaker.key.pem"].sort(),
    );
    expect(statSync(path.join(out, "services/matchmaker.key.pem")).mode & 0o777).toBe(0o600);
    // The folder serves as the matchmaker's pki.dir.
    expect(readServiceCredentials(out, "matchmaker").certPem).toMatch(/CERTIFICATE/);
    expect(() => openSealVerifier({ dir: out }, HEARTBEAT_SEAL_PURPOSE)).not.toThrow();
    expect(() => loadTrust(out)).not.toThrow();
  });

  it("gives the agents no private key at all, and the intake no seal key but the job spec's", () => {
    const agents = path.join(root, "agents");
    exportServicePki(caDir, "agents", agents);
    expect(listing(agents).filter((f) => f.endsWith(".pem"))).toEqual(["ca.crl.pem", "ca.pem"]);
    const intake = path.join(root, "intake");
    exportServicePki(caDir, "intake", intake);
    expect(listing(intake).filter((f) => f.startsWith("seals/"))).toEqual(["seals/job-spec.keys"]);
  });

  it("replaces an earlier export (a file it no longer needs goes) and refuses a folder that is not one", async () => {
    const out = path.join(root, "credentials");
    exportServicePki(caDir, "credentials", out);
    writeFileSync(path.join(out, "left-over.pem"), "x");
    exportServicePki(caDir, "credentials", out);
    expect(listing(out)).not.toContain("left-over.pem");
    const foreign = path.join(root, "home");
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, "notes.txt"), "mine");
    await expectCode(() => exportServicePki(caDir, "credentials", foreign), ERR.USAGE);
    expect(listing(foreign)).toEqual(["notes.txt"]);
  });
});
