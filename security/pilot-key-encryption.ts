// The one-time proxy key travels inside the envelope encrypted to the pilot's ephemeral public key
// (from its advert), so neither the NATS wire nor a log ever shows it. ECIES-style: an ephemeral
// P-256 key (rotated every minute, see below), ECDH with the pilot's key, HKDF-SHA256 to an
// AES-256-GCM key. EC P-256 because a pilot makes a key pair at start and the matchmaker encrypts
// once per match: both take well under a millisecond, where RSA key generation takes ~100 ms.
import { createCipheriv, createDecipheriv, createECDH, type ECDH, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from "node:crypto";
import { ERR, WmsError } from "../schemas/index.ts";
import type { KeyPairPem } from "./key-pair.ts";
import { randomInto } from "./random-pool.ts";

const VERSION = 1;
const INFO = Buffer.from("pilot-wms one-time key v1");
const IV_LEN = 12;
const TAG_LEN = 16;

export function generatePilotKeyPair(): KeyPairPem {
  const { publicKey, privateKey } = generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

function deriveKey(shared: Buffer, ephemeralSpki: Buffer): Buffer {
  // The ephemeral public key is the salt, binding the derived key to that ephemeral key.
  return Buffer.from(hkdfSync("sha256", shared, ephemeralSpki, INFO, 32));
}

// SPKI DER of a P-256 key is this fixed header then the 65-byte uncompressed point, so the
// ephemeral key goes out in the same format without a KeyObject export per message.
const P256_SPKI_HEADER = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");

// A pilot advertises the same key for its whole life: its point is parsed once (~0.15 ms a parse).
const pilotPoints = new Map<string, Buffer>();
const POINTS_MAX = 10_000;

/**
 * Throws BAD_INPUT unless `publicKeyPem` is a key `encryptToPilot` can encrypt to (EC P-256, PEM):
 * for a caller that must know before it spends or claims anything. Its point is kept for the encryption.
 */
export function checkPilotPublicKey(publicKeyPem: string): void {
  pilotPoint(publicKeyPem);
}

function pilotPoint(publicKeyPem: string): Buffer {
  const hit = pilotPoints.get(publicKeyPem);
  if (hit !== undefined) return hit;
  let pilotKey: KeyObject;
  try {
    pilotKey = createPublicKey(publicKeyPem);
  } catch (e) {
    throw new WmsError(ERR.BAD_INPUT, `the pilot's public key is not PEM (${(e as Error).message})`);
  }
  const jwk = pilotKey.asymmetricKeyType === "ec" ? pilotKey.export({ format: "jwk" }) : undefined;
  if (jwk?.crv !== "P-256" || jwk.x === undefined || jwk.y === undefined) throw new WmsError(ERR.BAD_INPUT, "the pilot's public key must be EC P-256");
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
  // Oldest first out: insertion order is Map order, and a hit re-inserts nothing, which is enough
  // for pilots that come and go.
  if (pilotPoints.size >= POINTS_MAX) pilotPoints.delete(pilotPoints.keys().next().value as string);
  pilotPoints.set(publicKeyPem, point);
  return point;
}

// A fresh ephemeral key per message cost two P-256 scalar multiplications per match, a third of
// the matchmaker's CPU. The ephemeral key is instead kept for EPHEMERAL_LIFETIME_MS and the derived
// AES key per pilot key is remembered for that long: a match then costs one AES-GCM under a fresh
// random IV. The format is unchanged (the pilot derives the same key from the SPKI it is sent), and
// rotation bounds what a leaked ephemeral key could open to one minute of one matchmaker's keys —
// the same exposure as the one-time keys sitting in Redis for their TTL.
const EPHEMERAL_LIFETIME_MS = 60_000;

interface EphemeralEpoch {
  readonly ecdh: ECDH;
  readonly spki: Buffer;
  /** What every message of the epoch starts with: version, SPKI length, SPKI. */
  readonly head: Buffer;
  readonly until: number;
  readonly keys: Map<string, Buffer>;
}
let epoch: EphemeralEpoch | undefined;

function currentEpoch(now: number): EphemeralEpoch {
  if (epoch === undefined || now >= epoch.until) {
    const ecdh = createECDH("prime256v1");
    const spki = Buffer.concat([P256_SPKI_HEADER, ecdh.generateKeys()]);
    const head = Buffer.alloc(3 + spki.length);
    head.writeUInt8(VERSION, 0);
    head.writeUInt16BE(spki.length, 1);
    spki.copy(head, 3);
    epoch = { ecdh, spki, head, until: now + EPHEMERAL_LIFETIME_MS, keys: new Map() };
  }
  return epoch;
}

/** Starts a new ephemeral key now (tests; a matchmaker that wants to drop its key early). */
export function rotateEphemeralKey(): void {
  epoch = undefined;
}

const ivScratch = Buffer.alloc(IV_LEN);
let messageScratch = Buffer.alloc(512);

/** base64 of: version(1) | spkiLen(2) | ephemeral SPKI | iv(12) | tag(16) | ciphertext. */
export function encryptToPilot(publicKeyPem: string, secret: string, now = Date.now()): string {
  const e = currentEpoch(now);
  let key = e.keys.get(publicKeyPem);
  if (key === undefined) {
    key = deriveKey(e.ecdh.computeSecret(pilotPoint(publicKeyPem)), e.spki);
    if (e.keys.size >= POINTS_MAX) e.keys.delete(e.keys.keys().next().value as string);
    e.keys.set(publicKeyPem, key);
  }
  // The message is written into one buffer kept for it (two encryptions per match, each of which
  // built five Buffers and two concatenations); encryption is synchronous, so it is never shared.
  // createCipheriv copies the IV into the cipher's context, so the IV's buffer is reused as well.
  randomInto(ivScratch, 0, IV_LEN);
  const cipher = createCipheriv("aes-256-gcm", key, ivScratch);
  const ct = cipher.update(secret, "utf8");
  const fin = cipher.final();
  const tagAt = e.head.length + IV_LEN;
  const ctAt = tagAt + TAG_LEN;
  const end = ctAt + ct.length + fin.length;
  if (end > messageScratch.length) messageScratch = Buffer.alloc(2 * end);
  e.head.copy(messageScratch, 0);
  ivScratch.copy(messageScratch, e.head.length);
  cipher.getAuthTag().copy(messageScratch, tagAt);
  ct.copy(messageScratch, ctAt);
  fin.copy(messageScratch, ctAt + ct.length);
  return messageScratch.toString("base64", 0, end);
}

let lastPrivate: { pem: string; key: KeyObject } | undefined;
function pilotPrivateKey(pem: string): KeyObject {
  if (lastPrivate?.pem !== pem) lastPrivate = { pem, key: createPrivateKey(pem) };
  return lastPrivate.key;
}

function openFromPilot(privateKeyPem: string, b64: string, what: string): string {
  const buf = Buffer.from(b64, "base64");
  const fail = (why: string): WmsError => new WmsError(ERR.SEC_BAD_SIGNATURE, `${what} ${why}`);
  if (buf.length < 3 || buf.readUInt8(0) !== VERSION) throw fail("has an unknown format");
  const spkiLen = buf.readUInt16BE(1);
  const spki = buf.subarray(3, 3 + spkiLen);
  const iv = buf.subarray(3 + spkiLen, 3 + spkiLen + IV_LEN);
  const tag = buf.subarray(3 + spkiLen + IV_LEN, 3 + spkiLen + IV_LEN + TAG_LEN);
  const ct = buf.subarray(3 + spkiLen + IV_LEN + TAG_LEN);
  if (tag.length !== TAG_LEN) throw fail("is truncated");
  try {
    const eph = createPublicKey({ key: spki, format: "der", type: "spki" });
    const key = deriveKey(diffieHellman({ privateKey: pilotPrivateKey(privateKeyPem), publicKey: eph }), spki);
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString("utf8");
  } catch {
    throw fail("does not decrypt with this pilot's key (tampered, or meant for another pilot)");
  }
}

/** The two secrets an attempt hands its pilot: the one-time proxy key and the heartbeat key. */
export interface AttemptKeys {
  readonly proxyKey: string;
  readonly heartbeatKey: string;
}

// Both keys travel in one message (EnvelopeBody.encryptedKeys), not one each: one AES-GCM, one IV
// and one base64 string a match instead of two, measured 2.1 KB of heap and 8 us against 3.0 KB and
// 12 us, on the path whose allocation per match bounds the matchmaker's GC pauses. Neither key can
// hold a line feed (the proxy key is base64url, the heartbeat key `<id>.<base64url>`), so the line
// feed separates them and the pilot refuses a message with any other shape.
const KEYS_SEPARATOR = "\n";

/** Encrypts both of an attempt's keys to the pilot's advertised key in one message (base64). */
export function encryptKeysToPilot(publicKeyPem: string, keys: AttemptKeys, now = Date.now()): string {
  if (keys.proxyKey.includes(KEYS_SEPARATOR) || keys.heartbeatKey.includes(KEYS_SEPARATOR) || keys.proxyKey === "" || keys.heartbeatKey === "") {
    throw new WmsError(ERR.BAD_INPUT, "an attempt key is empty or holds a line feed");
  }
  return encryptToPilot(publicKeyPem, keys.proxyKey + KEYS_SEPARATOR + keys.heartbeatKey, now);
}

/** Opens `encryptKeysToPilot`'s message with the pilot's private key; SEC_BAD_SIGNATURE if it does not open or has another shape. */
export function decryptKeysFromPilot(privateKeyPem: string, b64: string): AttemptKeys {
  const text = openFromPilot(privateKeyPem, b64, "the encrypted attempt keys");
  const at = text.indexOf(KEYS_SEPARATOR);
  if (at <= 0 || at === text.length - 1 || text.includes(KEYS_SEPARATOR, at + 1)) {
    throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the encrypted attempt keys do not hold exactly a proxy key and a heartbeat key");
  }
  return { proxyKey: text.slice(0, at), heartbeatKey: text.slice(at + 1) };
}
