import forge from "node-forge";
import { describe, expect, it } from "vitest";
import { ERR, SCHEMA_VERSION, type TaskBatch } from "../../schemas/index.ts";
import {
  ATTRIBUTES_OID,
  createProxy,
  decryptKeysFromPilot,
  encodeAttributeExtension,
  encryptKeysToPilot,
  encryptToPilot,
  rotateEphemeralKey,
  generatePilotKeyPair,
  openCredential,
  sealCredential,
  signTaskBatch,
  verifyChain,
  verifyData,
  signData,
  verifyTaskBatch,
} from "../../security/index.ts";
import { BITS, expectCode, OTHER_USER_DN, USER_DN, usePki } from "./support/pki-fixture.ts";

const fixture = usePki();

function attributeDerOf(certPem: string): string {
  const ext = forge.pki.certificateFromPem(certPem).getExtension({ id: ATTRIBUTES_OID } as unknown as { name: string }) as { value: string };
  return ext.value;
}

const batch: TaskBatch = {
  schemaVersion: SCHEMA_VERSION,
  taskName: "mc23.evgen",
  kind: "production",
  vo: "atlas",
  group: "",
  priority: 0,
  jobTemplate: { executable: "/bin/true", arguments: [], environment: {}, cores: 1, memoryMb: 100, walltimeSec: 60 },
  inputDatasets: ["ds1"],
  filesPerJob: 1,
  outputDataset: "out1",
  maxAttempts: 3,
};

describe("certificates and proxies", () => {
  it("reads the DN, VO, groups and roles the CA signed into a user certificate", () => {
    const id = verifyChain([fixture().user.certPem], fixture().trust);
    expect(id.dn).toBe(USER_DN);
    expect(id.vo).toBe("atlas");
    expect(id.groups).toEqual(["/atlas/prod"]);
    expect(id.roles).toEqual(expect.arrayContaining(["user", "production"]));
    expect(id.isProxy).toBe(false);
  });

  it("resolves a proxy of a proxy to the user's DN and carries the attributes forward", () => {
    const p1 = createProxy({ certPem: fixture().user.certPem, keyPem: fixture().user.keyPem, lifetimeSec: 3600, keyBits: BITS });
    const p2 = createProxy({ certPem: p1.certPem, keyPem: p1.keyPem, chain: p1.chain, lifetimeSec: 600, keyBits: BITS });
    const id = verifyChain(p2.chain, fixture().trust);
    expect(id.dn).toBe(USER_DN);
    expect(id.subjectDn).toMatch(new RegExp(`^${USER_DN}/CN=\\d+/CN=\\d+$`));
    expect(id.isProxy).toBe(true);
    expect(id.roles).toContain("production");
    expect(id.notAfter).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it("refuses a certificate from another CA, even one with our CA's DN", async () => {
    await expectCode(() => verifyChain([fixture().foreignUser.certPem], fixture().trust), ERR.SEC_UNTRUSTED_CA);
    const p = createProxy({ certPem: fixture().foreignUser.certPem, keyPem: fixture().foreignUser.keyPem, lifetimeSec: 600, keyBits: BITS });
    await expectCode(() => verifyChain(p.chain, fixture().trust), ERR.SEC_UNTRUSTED_CA);
  });

  it("refuses an expired proxy", async () => {
    const p = createProxy({ certPem: fixture().user.certPem, keyPem: fixture().user.keyPem, lifetimeSec: 60, keyBits: BITS });
    expect(verifyChain(p.chain, fixture().trust).dn).toBe(USER_DN);
    await expectCode(() => verifyChain(p.chain, fixture().trust, { at: Date.now() + 120_000 }), ERR.SEC_CERT_EXPIRED);
  });

  it("refuses a proxy whose attributes were signed by the user instead of our CA", async () => {
    const forged = encodeAttributeExtension(
      { holderDn: OTHER_USER_DN, holderSerial: forge.pki.certificateFromPem(fixture().otherUser.certPem).serialNumber, issuerDn: verifyChain([fixture().user.certPem], fixture().trust).caDn, kind: "user", vo: "atlas", groups: [], roles: ["production"], notBefore: 0, notAfter: Date.now() + 86_400_000 },
      fixture().otherUser.keyPem,
    );
    const p = createProxy({ certPem: fixture().otherUser.certPem, keyPem: fixture().otherUser.keyPem, lifetimeSec: 600, keyBits: BITS, attributesDer: forged });
    await expectCode(() => verifyChain(p.chain, fixture().trust), ERR.SEC_BAD_ATTRIBUTES);
  });

  it("refuses a proxy carrying another user's CA-signed attributes", async () => {
    const p = createProxy({ certPem: fixture().otherUser.certPem, keyPem: fixture().otherUser.keyPem, lifetimeSec: 600, keyBits: BITS, attributesDer: attributeDerOf(fixture().user.certPem) });
    await expectCode(() => verifyChain(p.chain, fixture().trust), ERR.SEC_BAD_ATTRIBUTES);
  });

  it("refuses a proxy that names a user but was signed with someone else's key", async () => {
    const p = createProxy({ certPem: fixture().user.certPem, keyPem: fixture().otherUser.keyPem, lifetimeSec: 600, keyBits: BITS });
    await expectCode(() => verifyChain(p.chain, fixture().trust), ERR.SEC_BAD_SIGNATURE);
  });

  it("refuses a proxy made below one whose path length allows none", async () => {
    const p1 = createProxy({ certPem: fixture().user.certPem, keyPem: fixture().user.keyPem, lifetimeSec: 600, keyBits: BITS, pathLenConstraint: 0 });
    expect(verifyChain(p1.chain, fixture().trust).isProxy).toBe(true);
    const p2 = createProxy({ certPem: p1.certPem, keyPem: p1.keyPem, chain: p1.chain, lifetimeSec: 300, keyBits: BITS });
    await expectCode(() => verifyChain(p2.chain, fixture().trust), ERR.SEC_BAD_PROXY);
  });

  it("refuses an end-entity certificate posing as a proxy below another", async () => {
    await expectCode(() => verifyChain([fixture().otherUser.certPem, fixture().user.certPem], fixture().trust), ERR.SEC_BAD_PROXY);
  });
});

describe("signatures and encryption", () => {
  it("verifies a task batch and reports the signer's roles to the intake", () => {
    const p = createProxy({ certPem: fixture().user.certPem, keyPem: fixture().user.keyPem, lifetimeSec: 600, keyBits: BITS });
    const { batch: b, identity } = verifyTaskBatch(signTaskBatch(batch, { certChain: p.chain, keyPem: p.keyPem }), fixture().trust);
    expect(b.taskName).toBe("mc23.evgen");
    expect(identity.dn).toBe(USER_DN);
    expect(identity.roles).toContain("production");
  });

  it("refuses a task batch changed after signing", async () => {
    const signed = signTaskBatch(batch, { certChain: [fixture().otherUser.certPem], keyPem: fixture().otherUser.keyPem });
    const tampered = { ...signed, batch: signed.batch.replace('"priority":0', '"priority":9999') };
    expect(tampered.batch).not.toBe(signed.batch);
    await expectCode(() => verifyTaskBatch(tampered, fixture().trust), ERR.SEC_BAD_SIGNATURE);
  });

  it("refuses a detached signature by another key", () => {
    const sig = signData("hello", fixture().user.keyPem);
    expect(verifyData("hello", sig, fixture().user.certPem)).toBe(true);
    expect(verifyData("hello", sig, fixture().otherUser.certPem)).toBe(false);
    expect(verifyData("hellO", sig, fixture().user.certPem)).toBe(false);
  });

  it("carries an attempt's two keys in one message only their pilot opens, and refuses any other shape", async () => {
    const a = generatePilotKeyPair();
    const b = generatePilotKeyPair();
    const keys = { proxyKey: "Qx9_one-time-key", heartbeatKey: "k1.heartbeat-mac" };
    const ct = encryptKeysToPilot(a.publicKeyPem, keys);
    expect(ct).not.toContain("one-time");
    expect(decryptKeysFromPilot(a.privateKeyPem, ct)).toEqual(keys);
    await expectCode(() => decryptKeysFromPilot(b.privateKeyPem, ct), ERR.SEC_BAD_SIGNATURE);
    // One key alone, a key empty, or a third part: refused as the pilot would refuse a forgery.
    for (const text of ["only-one-key", "\nhb", "proxy\n", "proxy\nhb\nthird"]) {
      await expectCode(() => decryptKeysFromPilot(a.privateKeyPem, encryptToPilot(a.publicKeyPem, text)), ERR.SEC_BAD_SIGNATURE);
    }
    // A key that would change the message's shape is never encrypted.
    await expectCode(() => encryptKeysToPilot(a.publicKeyPem, { proxyKey: "a\nb", heartbeatKey: "hb" }), ERR.BAD_INPUT);
    await expectCode(() => encryptKeysToPilot(a.publicKeyPem, { proxyKey: "p", heartbeatKey: "" }), ERR.BAD_INPUT);
  });

  it("encrypts keys of any length, each message standing alone whatever is encrypted after it", () => {
    const a = generatePilotKeyPair();
    const proxyKeys = ["k", "x".repeat(43), "Zoë 日本 😀", "y".repeat(5000), "z".repeat(60)];
    const sent = proxyKeys.map((proxyKey, i) => ({ proxyKey, heartbeatKey: `k${i}.${"h".repeat(i * 40)}` }));
    const messages = sent.map((keys) => encryptKeysToPilot(a.publicKeyPem, keys));
    messages.forEach((ct, i) => expect(decryptKeysFromPilot(a.privateKeyPem, ct)).toEqual(sent[i]));
  });

  it("never repeats a ciphertext, and a rotated ephemeral key still decrypts for the pilot alone", async () => {
    const a = generatePilotKeyPair();
    const b = generatePilotKeyPair();
    const now = Date.now();
    const keys = { proxyKey: "same-key", heartbeatKey: "k1.same-heartbeat-key" };
    const first = encryptKeysToPilot(a.publicKeyPem, keys, now);
    const second = encryptKeysToPilot(a.publicKeyPem, keys, now);
    // Same ephemeral key within its minute, but a fresh IV: the two messages share nothing a wire watcher could link.
    expect(second).not.toBe(first);
    const ephemeral = (ct: string): string => Buffer.from(ct, "base64").subarray(3, 94).toString("hex");
    expect(ephemeral(second)).toBe(ephemeral(first));
    const later = encryptKeysToPilot(a.publicKeyPem, keys, now + 61_000);
    expect(ephemeral(later)).not.toBe(ephemeral(first));
    rotateEphemeralKey();
    const rotated = encryptKeysToPilot(a.publicKeyPem, keys);
    expect(ephemeral(rotated)).not.toBe(ephemeral(later));
    for (const ct of [first, second, later, rotated]) {
      expect(decryptKeysFromPilot(a.privateKeyPem, ct)).toEqual(keys);
      await expectCode(() => decryptKeysFromPilot(b.privateKeyPem, ct), ERR.SEC_BAD_SIGNATURE);
    }
  });

  it("refuses to open a sealed credential that was tampered with or moved to another owner", async () => {
    const key = Buffer.alloc(32, 7);
    const sealed = sealCredential("-----BEGIN PRIVATE KEY-----", key, USER_DN);
    expect(sealed).not.toContain("PRIVATE");
    expect(openCredential(sealed, key, USER_DN)).toBe("-----BEGIN PRIVATE KEY-----");
    await expectCode(() => openCredential(sealed, key, OTHER_USER_DN), ERR.SEC_BAD_SIGNATURE);
    const parts = sealed.split(".");
    const ct = Buffer.from(parts[3] as string, "base64");
    ct[0] = (ct[0] ?? 0) ^ 1;
    await expectCode(() => openCredential([parts[0], parts[1], parts[2], ct.toString("base64")].join("."), key, USER_DN), ERR.SEC_BAD_SIGNATURE);
  });
});
