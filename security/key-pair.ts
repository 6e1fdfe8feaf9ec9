// RSA keys come from node:crypto: node-forge's pure-JS prime search takes seconds for 2048 bits,
// OpenSSL takes tens of milliseconds. node-forge still builds the certificates around them.
import { generateKeyPair, generateKeyPairSync } from "node:crypto";
import { ERR, WmsError } from "../schemas/index.ts";

export interface KeyPairPem {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

/** 2048 bits in production; tests pass 1024 to stay quick on a loaded 2-core machine. */
export const DEFAULT_RSA_BITS = 2048;

export function generateRsaKeyPair(bits = DEFAULT_RSA_BITS): KeyPairPem {
  if (!Number.isInteger(bits) || bits < 1024) throw new WmsError(ERR.BAD_INPUT, `RSA keys need at least 1024 bits, got ${bits}`);
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: bits,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** The same, on libuv's thread pool: a pilot keeps heartbeating while it makes a proxy's key. */
export function generateRsaKeyPairAsync(bits = DEFAULT_RSA_BITS): Promise<KeyPairPem> {
  if (!Number.isInteger(bits) || bits < 1024) return Promise.reject(new WmsError(ERR.BAD_INPUT, `RSA keys need at least 1024 bits, got ${bits}`));
  return new Promise((resolve, reject) =>
    generateKeyPair(
      "rsa",
      { modulusLength: bits, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKeyPem: publicKey, privateKeyPem: privateKey })),
    ),
  );
}
