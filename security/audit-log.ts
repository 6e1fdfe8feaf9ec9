// Security events (a one-time key presented twice, a DN mismatch, a refused retriever) go to capped
// Redis streams, so the monitor and an operator can read who tried what, when. The stores write
// their entries from inside their Lua scripts, in the same atomic step as the refusal, so an event
// about a site's key goes to the stream in that site's shard (a script touches one Redis Cluster
// slot); everything else goes to the namespace's stream. Reading merges them, newest first.
import type { RedisClient } from "../platform/redis-client.ts";
import type { WireNames } from "../schemas/index.ts";

export const AUDIT_MAXLEN = 10_000;

export interface AuditEntry {
  readonly id: string;
  readonly event: string;
  readonly at: number;
  readonly fields: Readonly<Record<string, string>>;
}

/** The namespace's stream, for events not written by a site-sharded script. */
export function auditStreamKey(names: WireNames): string {
  return names.redisKey("sec", "audit");
}

/** The stream in a site's shard, written by the scripts that act on that site's keys. */
export function siteAuditStreamKey(names: WireNames, site: string): string {
  return names.siteKey(site, "sec", "audit");
}

/** The sites whose shard may hold audit entries: what `recent` reads besides the namespace's stream. */
function auditSitesKey(names: WireNames): string {
  return names.redisKey("sec", "audit-sites");
}

/** Stream ids are `<ms>-<seq>`: ordered by time across streams, then by sequence. */
function newerFirst(a: AuditEntry, b: AuditEntry): number {
  const [am, as] = a.id.split("-").map(Number);
  const [bm, bs] = b.id.split("-").map(Number);
  return bm - am || bs - as;
}

export class AuditLog {
  /** Sites already in the index, so a process adds each once. */
  private readonly indexed = new Set<string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
  ) {}

  async write(event: string, fields: Readonly<Record<string, string>>): Promise<void> {
    const flat = Object.entries(fields).flat();
    await this.redis.xadd(auditStreamKey(this.names), "MAXLEN", "~", String(AUDIT_MAXLEN), "*", "event", event, "at", String(Date.now()), ...flat);
  }

  /**
   * Call before a script may write into the site's stream: the index is written first, so an entry
   * is never unreadable (at worst the index names a stream that stays empty).
   */
  async indexSite(site: string): Promise<void> {
    if (this.indexed.has(site)) return;
    await this.redis.sadd(auditSitesKey(this.names), site);
    this.indexed.add(site);
  }

  /** Newest first, over the namespace's stream and every site's. */
  async recent(count = 100): Promise<AuditEntry[]> {
    const sites = await this.redis.smembers(auditSitesKey(this.names));
    const streams = [auditStreamKey(this.names), ...sites.map((s) => siteAuditStreamKey(this.names, s))];
    const pages = await Promise.all(streams.map((k) => this.redis.xrevrange(k, "+", "-", "COUNT", count)));
    const entries = pages.flat().map(([id, kv]): AuditEntry => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < kv.length; i += 2) fields[kv[i] as string] = kv[i + 1] as string;
      const { event = "", at = "0", ...rest } = fields;
      return { id, event, at: Number(at), fields: rest };
    });
    return entries.sort(newerFirst).slice(0, count);
  }
}
