// Hybrid encryption to the holder of a certificate's RSA key: RSA-OAEP-SHA256 wraps a fresh
// AES-256-GCM key. Used for what crosses NATS between the credential cache and its callers: the
// delegated proxy's private key (to the cache) and the retrieved proxy (to the retriever).
import { constants, createCipheriv, createDecipheriv, createPrivateKey, privateDecrypt, publicEncrypt, randomBytes, X509Certificate } from "node:crypto";
import { ERR, WmsError } from "../schemas/index.ts";

const IV_LEN = 12;
const TAG_LEN = 16;

/** base64 of: wrappedKeyLen(2) | RSA-OAEP(aesKey) | iv | tag | ciphertext. */
export function encryptToCertificate(certPem: string, plaintext: string): string {
  const publicKey = new X509Certificate(certPem).publicKey;
  const aesKey = randomBytes(32);
  const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, aesKey);
  const iv = randomBytes(IV_LEN);
  const cipher = createCipheriv("aes-256-gcm", aesKey, iv);
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(wrapped.length, 0);
  return Buffer.concat([head, wrapped, iv, cipher.getAuthTag(), ct]).toString("base64");
}

export function decryptWithKey(keyPem: string, b64: string): string {
  try {
    const buf = Buffer.from(b64, "base64");
    const wl = buf.readUInt16BE(0);
    const wrapped = buf.subarray(2, 2 + wl);
    const iv = buf.subarray(2 + wl, 2 + wl + IV_LEN);
    const tag = buf.subarray(2 + wl + IV_LEN, 2 + wl + IV_LEN + TAG_LEN);
    const ct = buf.subarray(2 + wl + IV_LEN + TAG_LEN);
    const aesKey = privateDecrypt({ key: createPrivateKey(keyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, wrapped);
    const decipher = createDecipheriv("aes-256-gcm", aesKey, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString("utf8");
  } catch {
    throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the encrypted payload does not decrypt with this key (tampered, or meant for someone else)");
  }
}
