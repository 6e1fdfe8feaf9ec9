// Credentials at rest: AES-256-GCM under a deployment key (credential-keyring.ts), so Redis
// never holds a private key in clear. `aad` binds a sealed blob to its owner's DN: a blob copied
// under another user's key fails to open instead of handing out the wrong proxy. A blob names the
// id of the key that sealed it, so the key can be rotated while old blobs still open.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ERR, WmsError } from "../schemas/index.ts";

const V1 = "v1";
const V2 = "v2";

export function credentialKeyFromBase64(b64: string | undefined): Buffer {
  if (b64 === undefined || b64 === "") {
    throw new WmsError(ERR.BAD_CONFIG, "credentials.encryptionKey is not set; put 32 random bytes in base64 there or in WMS_CREDENTIAL_KEY (e.g. `openssl rand -base64 32`)");
  }
  const key = Buffer.from(b64, "base64");
  if (key.length !== 32) throw new WmsError(ERR.BAD_CONFIG, `credentials.encryptionKey must be 32 bytes in base64, got ${key.length} bytes`);
  return key;
}

/**
 * `v2.<keyId>.<iv>.<tag>.<ciphertext>` (iv, tag and ciphertext base64), or without a key id the
 * older `v1.<iv>.<tag>.<ciphertext>`.
 */
export function sealCredential(plaintext: string, key32: Buffer, aad = "", keyId?: string): string {
  if (key32.length !== 32) throw new WmsError(ERR.BAD_CONFIG, "the credential key must be 32 bytes");
  if (keyId !== undefined && !/^[0-9a-f]{1,64}$/.test(keyId)) throw new WmsError(ERR.BAD_CONFIG, `a credential key id is hex, got '${keyId}'`);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key32, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const body = [iv.toString("base64"), cipher.getAuthTag().toString("base64"), ct.toString("base64")];
  return (keyId === undefined ? [V1, ...body] : [V2, keyId, ...body]).join(".");
}

/** The id of the key a blob was sealed under; undefined for a v1 blob, which names none. */
export function sealedKeyId(sealed: string): string | undefined {
  const [prefix, id] = sealed.split(".", 2);
  return prefix === V2 ? id : undefined;
}

export function openCredential(sealed: string, key32: Buffer, aad = ""): string {
  const parts = sealed.split(".");
  const [prefix, iv, tag, ct] = parts[0] === V2 ? [V1, ...parts.slice(2)] : parts;
  if (prefix !== V1 || iv === undefined || tag === undefined || ct === undefined) throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the sealed credential has an unknown format");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key32, Buffer.from(iv, "base64"));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(ct, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the sealed credential does not open: wrong key, tampered, or sealed for another owner");
  }
}
