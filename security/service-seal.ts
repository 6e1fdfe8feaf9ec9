// Records a service writes into a shared store (the intake's job specs, the matchmaker's one-time
// keys) carry a seal the reader checks, so a store anyone on the network can write decides nothing
// on its own. The service's RSA key delegates a fresh Ed25519 key (sign ~20 µs, verify ~50 µs, so a
// 10,000-job task and the matchmaker's per-match path can afford one each), the way a proxy
// certificate delegates a user's identity (RFC 3820). The delegation is itself signed by the
// service certificate, so it may sit in that same store: a reader checks the chain, the service
// kind and role, the RSA signature and the validity before it trusts the key.
import { createHash, createPublicKey, generateKeyPairSync, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import type { Redis } from "ioredis";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { verifyChain } from "./chain-verification.ts";
import { createDataSigner, verifyWithKey } from "./detached-signature.ts";
import type { TrustStore } from "./trust-store.ts";

/** A sealing key lives this long (records sealed under it stay verifiable until then)... */
export const SEAL_KEY_LIFETIME_MS = 30 * 86_400_000;
/** ...and a new one is made this often, so one leaked key seals nothing new after a day. */
export const SEAL_KEY_ROTATE_MS = 86_400_000;

interface DelegationBody {
  readonly purpose: string;
  readonly publicKey: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

interface StoredDelegation {
  readonly body: string;
  readonly signature: string;
  readonly certPem: string;
}

export function sealKeyStoreKey(names: WireNames, keyId: string): string {
  return names.redisKey("sec", "sealkey", keyId);
}

interface SealKey {
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly stored: StoredDelegation;
  readonly notAfter: number;
  rotateAt: number;
  published: boolean;
}

/**
 * Seals texts for one purpose (`job-spec`, `one-time-key`) with the current delegated key. Call
 * `ready()` (publishes the delegation) before handing out anything sealed.
 */
export class ServiceSealer {
  private current: SealKey | undefined;

  constructor(
    private readonly service: { readonly certPem: string; readonly keyPem: string },
    private readonly purpose: string,
    private readonly clock: () => number = Date.now,
  ) {}

  private key(): SealKey {
    const now = this.clock();
    if (this.current !== undefined && now < this.current.rotateAt) return this.current;
    const certNotAfter = Date.parse(new X509Certificate(this.service.certPem).validTo);
    const notAfter = Math.min(now + SEAL_KEY_LIFETIME_MS, certNotAfter);
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const body: DelegationBody = { purpose: this.purpose, publicKey: publicKey.export({ type: "spki", format: "der" }).toString("base64"), notBefore: now, notAfter };
    const text = JSON.stringify(body);
    const stored = { body: text, signature: createDataSigner(this.service.keyPem).sign(text), certPem: this.service.certPem };
    const keyId = createHash("sha256").update(text).digest("base64url").slice(0, 22);
    this.current = { keyId, privateKey, stored, notAfter, rotateAt: now + Math.min(SEAL_KEY_ROTATE_MS, (notAfter - now) / 2), published: false };
    return this.current;
  }

  /** Publishes the current delegation (once per key) so readers can find it by its id. */
  async ready(redis: Redis, names: WireNames): Promise<void> {
    const k = this.key();
    if (k.published) return;
    await redis.set(sealKeyStoreKey(names, k.keyId), JSON.stringify(k.stored), "PXAT", k.notAfter);
    k.published = true;
  }

  /** `<keyId>.<signature>` over `text`; throws when `ready()` has not published the current key. */
  seal(text: string): string {
    const k = this.key();
    if (!k.published) throw new WmsError(ERR.INTERNAL, "ServiceSealer.ready() must publish the sealing key before anything is sealed");
    return `${k.keyId}.${sign(null, Buffer.from(text, "utf8"), k.privateKey).toString("base64")}`;
  }
}

interface TrustedKey {
  readonly key: KeyObject;
  readonly notAfter: number;
  readonly certPem: string;
}

/** Checks seals of one purpose, made by a service certificate holding `role`. */
export class SealVerifier {
  private readonly keys = new Map<string, TrustedKey>();

  constructor(
    private readonly redis: Redis,
    private readonly names: WireNames,
    private readonly trust: TrustStore,
    private readonly purpose: string,
    private readonly role: string,
    private readonly clock: () => number = Date.now,
  ) {}

  private async trusted(keyId: string): Promise<TrustedKey | undefined> {
    const now = this.clock();
    const hit = this.keys.get(keyId);
    if (hit !== undefined) {
      // The chain is checked at every use (verifyChain caches), so expiry and revocation still bite.
      verifyChain([hit.certPem], this.trust, { at: now });
      return now < hit.notAfter ? hit : undefined;
    }
    const raw = await this.redis.get(sealKeyStoreKey(this.names, keyId));
    if (raw === null) return undefined;
    let stored: StoredDelegation;
    let body: DelegationBody;
    try {
      stored = JSON.parse(raw) as StoredDelegation;
      body = JSON.parse(stored.body) as DelegationBody;
    } catch {
      return undefined;
    }
    const signer = verifyChain([stored.certPem], this.trust, { at: now });
    if (signer.kind !== "service" || !signer.roles.includes(this.role)) {
      throw new WmsError(ERR.SEC_NOT_AUTHORIZED, `sealing key ${keyId} was delegated by ${signer.dn}, not a service certificate with the ${this.role} role`);
    }
    if (!verifyWithKey(stored.body, stored.signature, signer.publicKey)) return undefined;
    if (body.purpose !== this.purpose || !(now >= body.notBefore - 5 * 60_000 && now < body.notAfter)) return undefined;
    const t = { key: createPublicKey({ key: Buffer.from(body.publicKey, "base64"), format: "der", type: "spki" }), notAfter: body.notAfter, certPem: stored.certPem };
    if (this.keys.size > 1000) this.keys.clear();
    this.keys.set(keyId, t);
    return t;
  }

  /** True when `seal` is a seal over `text` by a trusted key of this purpose. */
  async verify(text: string, seal: string | undefined): Promise<boolean> {
    if (seal === undefined) return false;
    const dot = seal.indexOf(".");
    if (dot <= 0) return false;
    const k = await this.trusted(seal.slice(0, dot));
    if (k === undefined) return false;
    try {
      return verify(null, Buffer.from(text, "utf8"), k.key, Buffer.from(seal.slice(dot + 1), "base64"));
    } catch {
      return false;
    }
  }
}
