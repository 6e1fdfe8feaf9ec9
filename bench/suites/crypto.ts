import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPublicKey, generateKeyPairSync, randomBytes, sign, verify, X509Certificate } from "node:crypto";
import { SCHEMA_VERSION, type EnvelopeBody } from "../../schemas/index.ts";
import {
  createDataSigner,
  createEnvelopeSigner,
  createBatchEnvelopeSigner,
  createForgeSigner,
  createForgeVerifier,
  createProxy,
  encryptKeysToPilot,
  fixedSealKeys,
  generatePilotKeyPair,
  heartbeatKeyFor,
  heartbeatMac,
  heartbeatMacHolds,
  newSealKey,
  initPki,
  issueCertificate,
  loadTrust,
  readServiceCredentials,
  verifyData,
  verifyEnvelope,
  verifyWithKey,
} from "../../security/index.ts";
import { opsPerSec, type BenchSuite } from "./suite.ts";

const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

/**
 * One envelope is signed per match and verified per envelope, so sign+verify is the hot path the
 * issue asks about: node:crypto (what security/ uses) against node-forge (the baseline), same
 * 2048-bit RSA key, same body. Also the full `verifyEnvelope` (schema, cached chain, role,
 * signature, expiry) with the RSA service key and with a delegated EC key (what the matchmaker
 * signs with), `encryptKeysToPilot` (one per match) and the time to make a 2048-bit RFC 3820 proxy.
 * Per heartbeat job: the matchmaker's check of the pilot's MAC (the attempt's key derived, then
 * the MAC) against the Ed25519 verify a signed heartbeat would have cost instead, with the key
 * parsed once and with it parsed from the record's SPKI each time.
 */
export const cryptoSuite: BenchSuite = {
  key: "crypto",
  async run() {
    const dir = mkdtempSync(path.join(tmpdir(), "wms-bench-pki-"));
    try {
      initPki(path.join(dir, "pki"), { vo: "bench" });
      const pkiDir = path.join(dir, "pki");
      const mm = readServiceCredentials(pkiDir, "matchmaker");
      const trust = loadTrust(pkiDir);
      const pilot = generatePilotKeyPair();
      const now = Date.now();
      const body: EnvelopeBody = {
        schemaVersion: SCHEMA_VERSION,
        job: {
          schemaVersion: SCHEMA_VERSION, jobId: "job-1", taskId: "task-1", taskName: "bench", kind: "production", vo: "bench", group: "",
          userDn: "/DC=org/CN=Bench User", priority: 0, site: "SITE_A", executable: "/bin/true", arguments: [], environment: {},
          requirements: "true", rank: "0", cores: 1, memoryMb: 100, walltimeSec: 60, inputFiles: [], outputDataset: "out", attempt: 1, maxAttempts: 3,
        },
        submitterDn: "/DC=org/CN=Bench User",
        pilotId: "pilot-1",
        lockToken: "lock-token-1",
        encryptedKeys: encryptKeysToPilot(pilot.publicKeyPem, { proxyKey: randomBytes(32).toString("base64url"), heartbeatKey: `bench.${randomBytes(32).toString("base64url")}` }),
        nonce: randomBytes(16).toString("hex"),
        issuedAt: now,
        expiresAt: now + 3_600_000,
      };
      const text = JSON.stringify(body);

      const nodeSigner = createDataSigner(mm.keyPem);
      const forgeSigner = createForgeSigner(mm.keyPem);
      const forgeVerifier = createForgeVerifier(mm.certPem);
      if (!forgeVerifier.verify(text, nodeSigner.sign(text)) || !verifyData(text, forgeSigner.sign(text), mm.certPem)) {
        throw new Error("node:crypto and node-forge signatures do not interoperate");
      }
      // Both sides parse their keys once, as the services do.
      const mmPublic = new X509Certificate(mm.certPem).publicKey;
      const node = opsPerSec(() => verifyWithKey(text, nodeSigner.sign(text), mmPublic), 1000, 20);
      const forge = opsPerSec(() => forgeVerifier.verify(text, forgeSigner.sign(text)), 1000, 2);

      const envSigner = createEnvelopeSigner(mm, { delegated: false });
      const full = opsPerSec(() => verifyEnvelope(envSigner.sign(body), { trust, pilotId: "pilot-1", now, isNonceNew: () => true }), 1000, 20);
      // What the matchmaker does now: the RSA key signs a delegation once, each envelope is signed
      // by the delegated EC key, and the pilot checks the delegation once (cached by its hash).
      const ecSigner = createEnvelopeSigner(mm);
      const delegated = opsPerSec(() => verifyEnvelope(ecSigner.sign(body), { trust, pilotId: "pilot-1", now, isNonceNew: () => true }), 1000, 20);
      // Signing only, as the matchmaker does under load: one envelope at a time against 32 asked for
      // in one event-loop turn and signed once over their Merkle root.
      const single = createEnvelopeSigner(mm);
      const signOne = opsPerSec(() => single.sign(body), 1000, 50);
      const batchSigner = createBatchEnvelopeSigner(mm);
      let batches = 0;
      const tb = performance.now();
      while (performance.now() - tb < 1000) {
        await Promise.all(Array.from({ length: 32 }, () => batchSigner.sign(body)));
        batches++;
      }
      const signBatched = (batches * 32) / ((performance.now() - tb) / 1000);
      // A match encrypts both of the attempt's keys in one message (the key name is kept from when it encrypted one).
      const attemptKeys = { proxyKey: randomBytes(32).toString("base64url"), heartbeatKey: `bench.${randomBytes(32).toString("base64url")}` };
      const encrypt = opsPerSec(() => encryptKeysToPilot(pilot.publicKeyPem, attemptKeys), 1000, 20);

      const hbKeys = fixedSealKeys(newSealKey());
      const claim = { pilotId: "pilot-1", site: "SITE_A", sentAt: now, jobId: "T1.000001", attempt: 1, leaseToken: "0123456789abcdef.0123456789abcdef01234567.SITE_A", state: "running" };
      const hbKey = heartbeatKeyFor(hbKeys, claim);
      const mac = heartbeatMac(hbKey, claim);
      if (!heartbeatMacHolds(hbKeys, claim, mac)) throw new Error("heartbeat MAC does not verify");
      const hbMac = opsPerSec(() => heartbeatMac(hbKey, claim), 500, 1000);
      const hbVerify = opsPerSec(() => heartbeatMacHolds(hbKeys, claim, mac), 500, 1000);
      const ed = generateKeyPairSync("ed25519");
      const claimText = Buffer.from(JSON.stringify(claim));
      const edSig = sign(null, claimText, ed.privateKey);
      const spki = ed.publicKey.export({ type: "spki", format: "der" });
      const edVerify = opsPerSec(() => verify(null, claimText, ed.publicKey, edSig), 500, 100);
      const edVerifyParsed = opsPerSec(() => verify(null, claimText, createPublicKey({ key: spki, format: "der", type: "spki" }), edSig), 500, 100);

      const user = issueCertificate({ caDir: pkiDir, kind: "user", dn: "/DC=org/CN=Bench User" });
      const runs = 5;
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) createProxy({ certPem: user.certPem, keyPem: user.keyPem, lifetimeSec: 3600 });
      const proxyCreateMs = (performance.now() - t0) / runs;

      return {
        envelopeSignVerifyPerSecNode: Math.round(node),
        envelopeSignVerifyPerSecForge: round(forge),
        envelopeNodeOverForgeRatio: round(node / forge),
        envelopeFullSignVerifyPerSecNode: Math.round(full),
        envelopeSignVerifyPerSecDelegatedEc: Math.round(delegated),
        delegatedEcOverRsaRatio: round(delegated / full),
        envelopeSignPerSecOneByOne: Math.round(signOne),
        envelopeSignPerSecBatchOf32: Math.round(signBatched),
        batchOverOneByOneRatio: round(signBatched / signOne),
        encryptToPilotPerSec: Math.round(encrypt),
        proxyCreateMs: round(proxyCreateMs),
        heartbeatMacUs: round(1e6 / hbMac, 2),
        heartbeatVerifyUs: round(1e6 / hbVerify, 2),
        heartbeatEd25519VerifyUs: round(1e6 / edVerify, 2),
        heartbeatEd25519VerifyWithKeyParseUs: round(1e6 / edVerifyParsed, 2),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
