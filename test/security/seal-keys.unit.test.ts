// The HMAC seals between our own services: who holds which key, and what a rotation keeps valid.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import {
  initPki,
  JOB_SPEC_SEAL_PURPOSE,
  ONE_TIME_KEY_SEAL_PURPOSE,
  rotateSealKeys,
  SealKeyFile,
  sealKeysFile,
  sealKeysPath,
  SealVerifier,
  ServiceSealer,
} from "../../security/index.ts";
import { BITS, expectCode } from "./support/pki-fixture.ts";

const root = mkdtempSync(path.join(tmpdir(), "wms-seal-keys-"));
const pkiDir = path.join(root, "pki");
initPki(pkiDir, { keyBits: BITS });
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TEXT = JSON.stringify(["job-spec", "job-1", "/bin/echo", ["hello"]]);

describe("seal keys", () => {
  it("are made by the PKI init, one private file per purpose, different keys", () => {
    for (const purpose of [JOB_SPEC_SEAL_PURPOSE, ONE_TIME_KEY_SEAL_PURPOSE]) {
      expect(statSync(sealKeysPath(pkiDir, purpose)).mode & 0o777).toBe(0o600);
    }
    const spec = new ServiceSealer(SealKeyFile.open(sealKeysPath(pkiDir, JOB_SPEC_SEAL_PURPOSE)), ONE_TIME_KEY_SEAL_PURPOSE);
    const otk = new SealVerifier(SealKeyFile.open(sealKeysPath(pkiDir, ONE_TIME_KEY_SEAL_PURPOSE)), ONE_TIME_KEY_SEAL_PURPOSE);
    // Whoever holds only the job-spec key (the intake) cannot make a seal the one-time-key checker accepts.
    expect(otk.verify(TEXT, spec.seal(TEXT))).toBe(false);
  });

  it("refuse a changed text, a changed seal, another purpose's seal and a seal under an unknown key id", () => {
    const keys = SealKeyFile.open(sealKeysPath(pkiDir, JOB_SPEC_SEAL_PURPOSE));
    const sealer = new ServiceSealer(keys, JOB_SPEC_SEAL_PURPOSE);
    const verifier = new SealVerifier(keys, JOB_SPEC_SEAL_PURPOSE);
    const seal = sealer.seal(TEXT);
    expect(verifier.verify(TEXT, seal)).toBe(true);
    expect(verifier.verify(TEXT.replace("hello", "rm -rf"), seal)).toBe(false);
    expect(verifier.verify(TEXT, `${seal.slice(0, -2)}AA`)).toBe(false);
    expect(verifier.verify(TEXT, seal.slice(0, -10))).toBe(false);
    expect(verifier.verify(TEXT, `someone-else.${seal.split(".")[1]}`)).toBe(false);
    expect(verifier.verify(TEXT, undefined)).toBe(false);
    // Bytes appended to a genuine MAC: its first 32 bytes are right, the seal is still not the one made.
    for (const tail of ["A", "AAAA", "AAAAAAAA", "!"]) expect(verifier.verify(TEXT, `${seal}${tail}`)).toBe(false);
    // The same key used for another purpose does not make the same seal.
    expect(new SealVerifier(keys, ONE_TIME_KEY_SEAL_PURPOSE).verify(TEXT, seal)).toBe(false);
  });

  it("stay valid across one rotation, not two, and every holder follows a rotation without a restart", () => {
    const dir = mkdtempSync(path.join(root, "rot-"));
    initPki(dir, { keyBits: BITS });
    const file = sealKeysPath(dir, JOB_SPEC_SEAL_PURPOSE);
    let now = 1_000_000;
    const clock = (): number => now;
    // Two services, each with the file open since before the rotations (as the intake and a matchmaker).
    const sealer = new ServiceSealer(SealKeyFile.open(file, clock), JOB_SPEC_SEAL_PURPOSE);
    const verifier = new SealVerifier(SealKeyFile.open(file, clock), JOB_SPEC_SEAL_PURPOSE);
    const before = sealer.seal(TEXT);

    const first = rotateSealKeys(file, JOB_SPEC_SEAL_PURPOSE);
    expect(before.startsWith(`${first.previous}.`)).toBe(true);
    now += 6_000;
    const after = sealer.seal(TEXT);
    expect(after.startsWith(`${first.current}.`)).toBe(true);
    // The reader had never seen the new key: it reads the file again for the id it does not hold.
    expect(verifier.verify(TEXT, after)).toBe(true);
    expect(verifier.verify(TEXT, before)).toBe(true);

    rotateSealKeys(file, JOB_SPEC_SEAL_PURPOSE);
    now += 6_000;
    expect(verifier.verify(TEXT, sealer.seal(TEXT))).toBe(true);
    // Two rotations on, a record sealed before the first is refused.
    expect(new SealVerifier(SealKeyFile.open(file, clock), JOB_SPEC_SEAL_PURPOSE).verify(TEXT, before)).toBe(false);
    expect(new SealVerifier(SealKeyFile.open(file, clock), JOB_SPEC_SEAL_PURPOSE).verify(TEXT, after)).toBe(true);
  });

  it("come from the file the configuration names, and a bad or missing file is a one-line error", async () => {
    expect(sealKeysFile({ dir: pkiDir }, ONE_TIME_KEY_SEAL_PURPOSE)).toBe(sealKeysPath(pkiDir, ONE_TIME_KEY_SEAL_PURPOSE));
    expect(sealKeysFile({ dir: pkiDir, oneTimeKeySealKeysFile: "/run/secrets/otk.keys" }, ONE_TIME_KEY_SEAL_PURPOSE)).toBe("/run/secrets/otk.keys");
    const bad = path.join(root, "bad.keys");
    writeFileSync(bad, "k1 not-base64-of-32-bytes\n");
    const e = await expectCode(() => SealKeyFile.open(bad), ERR.BAD_CONFIG);
    expect(e.message).not.toContain("\n");
    await expectCode(() => SealKeyFile.open(path.join(root, "missing.keys")), ERR.FILE_UNREADABLE);
    // A PKI folder from before the seal keys gets them from the first rotation.
    const made = rotateSealKeys(path.join(root, "old-pki", "seals", "job-spec.keys"), JOB_SPEC_SEAL_PURPOSE);
    expect(made.previous).toBe("");
    expect(SealKeyFile.open(path.join(root, "old-pki", "seals", "job-spec.keys")).current().id).toBe(made.current);
  });
});
