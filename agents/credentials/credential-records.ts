// The stored proxies, one Redis hash per user DN. The proxy's key and chain are sealed with
// AES-256-GCM under the deployment key; every metadata field (DN, owner, retrieval policy, expiry,
// delegation time) is the seal's additional authenticated data (NIST SP 800-38D), so a record
// whose policy was rewritten in Redis does not open and nothing is released. The metadata stays
// readable in the hash for operators; the cache reads it only through `get`, which authenticates it.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { WireNames } from "../../schemas/index.ts";
import { openCredential, sealCredential } from "../../security/index.ts";

export interface StoredProxy {
  readonly chain: string[];
  readonly keyPem: string;
}

export interface CredentialRecord {
  readonly userDn: string;
  readonly owner: string;
  readonly retrievers: string[];
  readonly notAfter: number;
  readonly delegatedAt: number;
}

/** Every metadata field, in a fixed order: what the seal authenticates besides the proxy. */
function metadataAad(r: CredentialRecord): string {
  return JSON.stringify(["credential-record/v2", r.userDn, r.owner, r.retrievers, r.notAfter, r.delegatedAt]);
}

export class CredentialRecords {
  constructor(
    private readonly redis: Redis,
    private readonly names: WireNames,
    private readonly key32: Buffer,
  ) {}

  private key(userDn: string): string {
    return this.names.redisKey("cred", createHash("sha256").update(userDn, "utf8").digest("hex"));
  }

  async put(rec: CredentialRecord, proxy: StoredProxy): Promise<void> {
    const k = this.key(rec.userDn);
    const sealed = sealCredential(JSON.stringify(proxy), this.key32, metadataAad(rec));
    // One MULTI so a reader never sees a new policy next to an old proxy.
    await this.redis
      .multi()
      .del(k)
      .hset(k, { userDn: rec.userDn, owner: rec.owner, retrievers: JSON.stringify(rec.retrievers), notAfter: String(rec.notAfter), delegatedAt: String(rec.delegatedAt), sealed })
      .pexpireat(k, rec.notAfter)
      .exec();
  }

  /**
   * The record and its proxy, or undefined when none is stored. Throws SEC_BAD_SIGNATURE when any
   * metadata field differs from what was sealed (or the record is not this user's).
   */
  async get(userDn: string): Promise<{ record: CredentialRecord; proxy: StoredProxy } | undefined> {
    const h = await this.redis.hgetall(this.key(userDn));
    if (h.userDn === undefined) return undefined;
    let retrievers: string[];
    try {
      retrievers = JSON.parse(h.retrievers ?? "[]") as string[];
    } catch {
      retrievers = [];
    }
    const record: CredentialRecord = { userDn: h.userDn, owner: h.owner ?? "", retrievers, notAfter: Number(h.notAfter), delegatedAt: Number(h.delegatedAt) };
    // Asked for one DN, stored under another: refused like any other tampering.
    const aad = record.userDn === userDn ? metadataAad(record) : "\u0000";
    const proxy = JSON.parse(openCredential(h.sealed ?? "", this.key32, aad)) as StoredProxy;
    return { record, proxy };
  }
}
