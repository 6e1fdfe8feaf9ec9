// RSA keys come from node:crypto: node-forge's pure-JS prime search takes seconds for 2048 bits,
// OpenSSL takes tens of milliseconds. node-forge still builds the certificates around them.
import { generateKeyPairSync } from "node:crypto";

export interface KeyPairPem {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

export function generateRsaKeyPair(bits = 2048): KeyPairPem {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: bits,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}
