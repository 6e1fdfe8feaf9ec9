// The credential-sealing keyring: key ids in every sealed record, the current key seals, older
// keys still open, a record whose key is gone is refused with 1716, and a rotation is seen by a
// keyring already in use.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { CredentialKeyring, credentialKeyId, rotateCredentialKey, sealCredential, sealedKeyId } from "../../security/index.ts";
import { expectCode } from "./support/pki-fixture.ts";

const dir = mkdtempSync(path.join(tmpdir(), "wms-keyring-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = (): string => randomBytes(32).toString("base64");

describe("credential keyring", () => {
  it("seals under the config key's id and opens records sealed before key ids existed", () => {
    const k = key();
    const ring = new CredentialKeyring({ encryptionKey: k });
    const sealed = ring.seal("secret", "aad");
    expect(sealedKeyId(sealed)).toBe(credentialKeyId(Buffer.from(k, "base64")));
    expect(ring.open(sealed, "aad").plaintext).toBe("secret");
    const old = sealCredential("older secret", Buffer.from(k, "base64"), "aad");
    expect(old.startsWith("v1.")).toBe(true);
    expect(ring.open(old, "aad")).toEqual({ plaintext: "older secret", keyId: credentialKeyId(Buffer.from(k, "base64")) });
  });

  it("rotates: the new key seals, the old one still opens, and a ring without the old key refuses with 1716", async () => {
    const k1 = key();
    const file = path.join(dir, "rotate.json");
    const ring = new CredentialKeyring({ encryptionKey: k1, keyringFile: file }, 0);
    const before = ring.seal("delegated before", "a");
    const r = rotateCredentialKey({ encryptionKey: k1, keyringFile: file });
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(r.previousKeyId).toBe(credentialKeyId(Buffer.from(k1, "base64")));
    expect(r.keyIds).toHaveLength(2);
    // The ring in use sees the new file without being rebuilt.
    expect(ring.currentKeyId).toBe(r.currentKeyId);
    const after = ring.seal("delegated after", "a");
    expect(sealedKeyId(after)).toBe(r.currentKeyId);
    expect(ring.open(before, "a").plaintext).toBe("delegated before");
    const again = rotateCredentialKey({ keyringFile: file });
    expect(again.previousKeyId).toBe(r.currentKeyId);
    expect(again.keyIds).toHaveLength(3);
    // A keyring holding only the newest key: what was sealed under the first is refused, by id.
    const onlyNew = path.join(dir, "only-new.json");
    const k3 = Buffer.from(key(), "base64");
    writeFileSync(onlyNew, JSON.stringify({ current: credentialKeyId(k3), keys: { [credentialKeyId(k3)]: k3.toString("base64") } }));
    const e = await expectCode(() => new CredentialKeyring({ keyringFile: onlyNew }).open(before, "a"), ERR.SEC_SEAL_KEY_UNKNOWN);
    expect(e.message).toContain(credentialKeyId(Buffer.from(k1, "base64")));
  });

  it("refuses a keyring file whose key does not match its id, or whose current key is missing", async () => {
    const file = path.join(dir, "bad.json");
    writeFileSync(file, JSON.stringify({ current: "abc", keys: { abc: key() } }));
    await expectCode(() => new CredentialKeyring({ keyringFile: file }), ERR.BAD_CONFIG);
    const k = Buffer.from(key(), "base64");
    writeFileSync(file, JSON.stringify({ current: "0123", keys: { [credentialKeyId(k)]: k.toString("base64") } }));
    await expectCode(() => new CredentialKeyring({ keyringFile: file }), ERR.BAD_CONFIG);
    await expectCode(() => new CredentialKeyring({}), ERR.BAD_CONFIG);
  });
});
