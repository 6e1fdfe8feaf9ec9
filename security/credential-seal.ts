// Credentials at rest: AES-256-GCM under the deployment's key (config credentials.encryptionKey),
// so Redis never holds a private key in clear. `aad` binds a sealed blob to its owner's DN: a
// blob copied under another user's key fails to open instead of handing out the wrong proxy.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ERR, WmsError } from "../schemas/index.ts";

const PREFIX = "v1";

export function credentialKeyFromBase64(b64: string | undefined): Buffer {
  if (b64 === undefined || b64 === "") {
    throw new WmsError(ERR.BAD_CONFIG, "credentials.encryptionKey is not set; put 32 random bytes in base64 there or in WMS_CREDENTIAL_KEY (e.g. `openssl rand -base64 32`)");
  }
  const key = Buffer.from(b64, "base64");
  if (key.length !== 32) throw new WmsError(ERR.BAD_CONFIG, `credentials.encryptionKey must be 32 bytes in base64, got ${key.length} bytes`);
  return key;
}

/** `v1.<iv>.<tag>.<ciphertext>`, each part base64. */
export function sealCredential(plaintext: string, key32: Buffer, aad = ""): string {
  if (key32.length !== 32) throw new WmsError(ERR.BAD_CONFIG, "the credential key must be 32 bytes");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key32, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return [PREFIX, iv.toString("base64"), cipher.getAuthTag().toString("base64"), ct.toString("base64")].join(".");
}

export function openCredential(sealed: string, key32: Buffer, aad = ""): string {
  const [prefix, iv, tag, ct] = sealed.split(".");
  if (prefix !== PREFIX || iv === undefined || tag === undefined || ct === undefined) throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the sealed credential has an unknown format");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key32, Buffer.from(iv, "base64"));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(ct, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the sealed credential does not open: wrong key, tampered, or sealed for another owner");
  }
}
