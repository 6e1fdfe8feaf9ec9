// The stored proxies, one Redis hash per user DN. The proxy's key and chain are sealed with
// AES-256-GCM under the deployment key, bound to the DN (AAD); the rest (owner, policy, expiry)
// stays readable for `info`. Redis never holds a private key in clear.
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
    const sealed = sealCredential(JSON.stringify(proxy), this.key32, rec.userDn);
    // One MULTI so a reader never sees a new policy next to an old proxy.
    await this.redis
      .multi()
      .del(k)
      .hset(k, { userDn: rec.userDn, owner: rec.owner, retrievers: JSON.stringify(rec.retrievers), notAfter: String(rec.notAfter), delegatedAt: String(rec.delegatedAt), sealed })
      .pexpireat(k, rec.notAfter)
      .exec();
  }

  async info(userDn: string): Promise<CredentialRecord | undefined> {
    const h = await this.redis.hgetall(this.key(userDn));
    if (h.userDn === undefined) return undefined;
    return { userDn: h.userDn, owner: h.owner ?? "", retrievers: JSON.parse(h.retrievers ?? "[]") as string[], notAfter: Number(h.notAfter), delegatedAt: Number(h.delegatedAt) };
  }

  async get(userDn: string): Promise<{ record: CredentialRecord; proxy: StoredProxy } | undefined> {
    const record = await this.info(userDn);
    if (record === undefined) return undefined;
    const sealed = (await this.redis.hget(this.key(userDn), "sealed")) ?? "";
    const proxy = JSON.parse(openCredential(sealed, this.key32, userDn)) as StoredProxy;
    return { record, proxy };
  }
}
