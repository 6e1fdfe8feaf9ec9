// The stored proxies, one Redis hash per user DN. The proxy's key and chain are sealed with
// AES-256-GCM under the keyring's current key (its id is in the sealed text, so a rotated key
// still opens older records); every metadata field (DN, owner, retrieval policy, expiry,
// delegation time) is the seal's additional authenticated data (NIST SP 800-38D), so a record
// whose policy was rewritten in Redis does not open and nothing is released. The metadata stays
// readable in the hash for operators; the cache reads it only through `get`, which authenticates it.
import { createHash } from "node:crypto";
import { scanAll, type RedisClient } from "../../platform/redis-client.ts";
import { redisScript } from "../../platform/redis-script.ts";
import type { WireNames } from "../../schemas/index.ts";
import { ERR, WmsError } from "../../schemas/index.ts";
import type { CredentialKeyring } from "../../security/index.ts";

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
// Compare-and-set of one record's seal (one key, so one slot): unlike WATCH/MULTI it holds no state
// on a connection other callers share (auto-pipelined, or a cluster node's).
const RESEAL_LUA = `if redis.call('HGET', KEYS[1], 'sealed') == ARGV[1] then redis.call('HSET', KEYS[1], 'sealed', ARGV[2]) return 1 end return 0`;
const resealScript = redisScript(RESEAL_LUA);

/** A user's record key: one key per user DN (its SHA-256). */
export function credentialKey(names: WireNames, userDn: string): string {
  return names.redisKey("cred", createHash("sha256").update(userDn, "utf8").digest("hex"));
}

function metadataAad(r: CredentialRecord): string {
  return JSON.stringify(["credential-record/v2", r.userDn, r.owner, r.retrievers, r.notAfter, r.delegatedAt]);
}

export class CredentialRecords {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly keyring: CredentialKeyring,
  ) {}

  private key(userDn: string): string {
    return credentialKey(this.names, userDn);
  }

  async put(rec: CredentialRecord, proxy: StoredProxy): Promise<void> {
    const k = this.key(rec.userDn);
    const sealed = this.keyring.seal(JSON.stringify(proxy), metadataAad(rec));
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
  async get(userDn: string): Promise<{ record: CredentialRecord; proxy: StoredProxy; keyId: string } | undefined> {
    const h = await this.redis.hgetall(this.key(userDn));
    if (h.userDn === undefined) return undefined;
    return this.open(h, userDn);
  }

  private open(h: Record<string, string>, userDn: string): { record: CredentialRecord; proxy: StoredProxy; keyId: string; sealed: string } {
    let retrievers: string[];
    try {
      retrievers = JSON.parse(h.retrievers ?? "[]") as string[];
    } catch {
      retrievers = [];
    }
    const record: CredentialRecord = { userDn: h.userDn, owner: h.owner ?? "", retrievers, notAfter: Number(h.notAfter), delegatedAt: Number(h.delegatedAt) };
    // Asked for one DN, stored under another: refused like any other tampering.
    const aad = record.userDn === userDn ? metadataAad(record) : "\u0000";
    const opened = this.keyring.open(h.sealed ?? "", aad);
    return { record, proxy: JSON.parse(opened.plaintext) as StoredProxy, keyId: opened.keyId, sealed: h.sealed ?? "" };
  }

  /**
   * Moves every record of the namespace sealed under an older key to the keyring's current key
   * (after `wms credentials rotate-key`), so the old key can be retired. A record that changes
   * while it is re-sealed (a new delegation) is left as its writer wrote it: the new seal is
   * written only over the one it was made from. Records that do not open are counted, not touched.
   * The records are scanned on every master (a Redis Cluster spreads them by key).
   */
  async resealAll(): Promise<{ resealed: number; current: number; unreadable: number }> {
    const out = { resealed: 0, current: 0, unreadable: 0 };
    const target = this.keyring.currentKeyId;
    for await (const keys of scanAll(this.redis, this.names.redisKey("cred", "*"), 200)) {
      for (const k of keys) {
        const h = await this.redis.hgetall(k);
        let opened;
        try {
          if (h.userDn === undefined || h.sealed === undefined) throw new WmsError(ERR.BAD_INPUT, "not a credential record");
          opened = this.open(h, h.userDn);
        } catch {
          out.unreadable++;
          continue;
        }
        if (opened.keyId === target) {
          out.current++;
          continue;
        }
        const sealed = this.keyring.seal(JSON.stringify(opened.proxy), metadataAad(opened.record));
        if ((await resealScript.run(this.redis, [k], [opened.sealed, sealed])) === 1) out.resealed++;
      }
    }
    return out;
  }
}
