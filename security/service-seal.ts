// Records a service writes into a shared store (the intake's job specs, the matchmaker's one-time
// keys) carry a seal the reader checks, so a store anyone on the network can write decides nothing
// on its own.
//
// Why HMAC-SHA256 and not a signature: both ends of each seal are our own services, provisioned
// from one deployment folder, so a secret key per purpose shared by exactly the two roles that need
// it gives the same guarantee against a Redis writer (no key, no seal) at a fraction of the cost.
// On the matchmaker's per-match path an Ed25519 verify of the spec seal cost 80-110 µs and the
// one-time key's Ed25519 seal ~37 µs; an HMAC over the same text is ~5 µs (node:crypto, which
// runs it in OpenSSL without a JavaScript hash). What asymmetry gave beyond that - a reader that
// cannot seal - buys nothing here: the matchmaker, which could forge a spec seal, signs the
// envelopes anyway, and the credential cache, which could mint a one-time key, holds the proxies
// the key releases. Each purpose has its own key, so the intake (spec key only) cannot mint keys
// and the credential cache (one-time-key key only) cannot seal specs. Keyed hashing: RFC 2104.
//
// The keys come from a `SealKeyring`: seal-keys.ts reads them from the deployment's key files.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SEAL_KEY_BYTES = 32;

export interface SealKey {
  readonly id: string;
  readonly secret: Buffer;
}

/** A purpose's keys: `current()` seals; `byId` finds the current or the previous one. */
export interface SealKeyring {
  current(): SealKey;
  byId(id: string): SealKey | undefined;
}

/** A fresh key; its id carries the day it was made, so an operator can tell current from previous. */
export function newSealKey(now: number = Date.now()): SealKey {
  return { id: `${new Date(now).toISOString().slice(0, 10).replace(/-/g, "")}-${randomBytes(4).toString("hex")}`, secret: randomBytes(SEAL_KEY_BYTES) };
}

/** Fixed keys, the first current (tests: a key nobody else holds). */
export function fixedSealKeys(...keys: SealKey[]): SealKeyring {
  if (keys.length === 0) throw new Error("fixedSealKeys needs a key");
  return { current: () => keys[0] as SealKey, byId: (id) => keys.find((k) => k.id === id) };
}

/**
 * The HMAC a seal carries, base64url; exported for seals whose key id travels apart from the MAC
 * (heartbeat-key.ts). Digested straight to text: three or four seals are made or checked per
 * match, and a digest Buffer (an ArrayBuffer and its view) cost more heap than the hashing.
 */
export function sealUnder(key: SealKey, purpose: string, text: string): string {
  // The purpose goes in first, so a seal made for one purpose never verifies as another's even
  // should two purposes ever share a key file.
  return createHmac("sha256", key.secret).update(purpose).update("\n").update(text).digest("base64url");
}

/** Bytes of a SHA-256 MAC. */
const MAC_BYTES = 32;
// Scratch for comparing two MACs in constant time without a Buffer per comparison (this is on the
// matchmaker's per-match and per-heartbeat paths). Used synchronously only, so never shared.
const givenScratch = Buffer.alloc(MAC_BYTES);
const wantScratch = Buffer.alloc(MAC_BYTES);

/**
 * True when two base64url SHA-256 MACs are the same bytes, compared in constant time. A `given`
 * that does not decode to exactly 32 bytes is refused, as a decoded Buffer of another length was.
 */
export function macTextEquals(given: string, want: string): boolean {
  if (Buffer.byteLength(given, "base64url") !== MAC_BYTES || Buffer.byteLength(want, "base64url") !== MAC_BYTES) return false;
  if (givenScratch.write(given, "base64url") !== MAC_BYTES || wantScratch.write(want, "base64url") !== MAC_BYTES) return false;
  return timingSafeEqual(givenScratch, wantScratch);
}

/** Seals texts for one purpose (`job-spec`, `one-time-key`) with the current key: `<keyId>.<base64url HMAC>`. */
export class ServiceSealer {
  constructor(
    private readonly keys: SealKeyring,
    private readonly purpose: string,
  ) {}

  seal(text: string): string {
    const k = this.keys.current();
    return `${k.id}.${sealUnder(k, this.purpose, text)}`;
  }
}

/** Checks seals of one purpose against the current and the previous key. */
export class SealVerifier {
  constructor(
    private readonly keys: SealKeyring,
    private readonly purpose: string,
  ) {}

  /** True when `seal` is a seal over `text` by a key of this purpose. */
  verify(text: string, seal: string | undefined): boolean {
    if (typeof seal !== "string") return false;
    const dot = seal.indexOf(".");
    if (dot <= 0) return false;
    const k = this.keys.byId(seal.slice(0, dot));
    if (k === undefined) return false;
    return macTextEquals(seal.slice(dot + 1), sealUnder(k, this.purpose, text));
  }
}
