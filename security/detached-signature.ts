// Detached RSA-SHA256 signatures over text. node:crypto, with the KeyObject parsed once per key:
// this is the hot path (one envelope per match, one verification per envelope), and OpenSSL's
// native RSA is ~20x node-forge's pure JavaScript (see bench key `crypto`). forge-signature.ts
// keeps the node-forge version as the benchmark's baseline.
import { createPrivateKey, createPublicKey, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { ERR, WmsError } from "../schemas/index.ts";

export interface DataSigner {
  sign(text: string): string;
}

export function createDataSigner(keyPem: string): DataSigner {
  const key = createPrivateKey(keyPem);
  return { sign: (text) => sign("sha256", Buffer.from(text, "utf8"), key).toString("base64") };
}

export function signData(text: string, keyPem: string): string {
  return createDataSigner(keyPem).sign(text);
}

export function verifyWithKey(text: string, sigB64: string, key: KeyObject): boolean {
  return verify("sha256", Buffer.from(text, "utf8"), key, Buffer.from(sigB64, "base64"));
}

/** True when `sigB64` is a signature over `text` by the key of `certPem` (a certificate or public key). */
export function verifyData(text: string, sigB64: string, certPem: string): boolean {
  let key: KeyObject;
  try {
    key = certPem.includes("CERTIFICATE") ? new X509Certificate(certPem).publicKey : createPublicKey(certPem);
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `not a PEM certificate or public key (${(e as Error).message})`);
  }
  return verifyWithKey(text, sigB64, key);
}
