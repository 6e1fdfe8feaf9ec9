// Usage per user, group, VO and site, in Redis hashes under the namespace (WireNames.redisKey):
// `acct:<kind>:<name>` with fields jobs, wallSec, cpuSec, maxRssKb, and `acct:<kind>` sets of names.
// The intake reads `overQuota`, the matchmaker `fairShareUsage`, `wms accounting report` `list`.
import type { Redis } from "ioredis";
import type { AccountingRecord, WireNames, WmsConfig } from "../../schemas/index.ts";
import { redisScript } from "../../platform/redis-script.ts";

export const USAGE_KINDS = ["user", "group", "vo", "site"] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

export interface Usage {
  kind: UsageKind;
  name: string;
  jobs: number;
  wallSec: number;
  /** Wall time of preempted attempts: counted apart, never charged to quotas or fair share. */
  wastedWallSec: number;
  cpuSec: number;
  maxRssKb: number;
}

export type Quotas = WmsConfig["quotas"];

export interface QuotaExceeded {
  /** Whose quota: the user's own or their group's. */
  scope: "user" | "group";
  name: string;
  usedHours: number;
  limitHours: number;
}

// One script per record so the seen-mark and all four entities' increments land together or not at
// all: a redelivered record finds its seen key and changes nothing (exactly once, not at least once).
// HINCRBYFLOAT for times (fractions of seconds add up); max RSS is a compare-and-set, which MULTI
// cannot express. KEYS: seen key, then per entity its hash and its name set. ARGV: ttl, wall, cpu,
// rss, preempted ('1': the wall time goes to wastedWallSec instead), then the entity names.
const ADD_LUA = `
if ARGV[1] ~= '0' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
end
local n = (#KEYS - 1) / 2
for i = 1, n do
  local h = KEYS[2 * i]
  redis.call('HINCRBY', h, 'jobs', 1)
  redis.call('HINCRBYFLOAT', h, ARGV[5] == '1' and 'wastedWallSec' or 'wallSec', ARGV[2])
  redis.call('HINCRBYFLOAT', h, 'cpuSec', ARGV[3])
  local cur = tonumber(redis.call('HGET', h, 'maxRssKb') or '0')
  if tonumber(ARGV[4]) > cur then redis.call('HSET', h, 'maxRssKb', ARGV[4]) end
  redis.call('SADD', KEYS[2 * i + 1], ARGV[5 + i])
end
return 1
`;

const addScript = redisScript(ADD_LUA);

function num(v: string | undefined): number {
  return v === undefined || v === "" ? 0 : Number(v);
}

export class UsageStore {
  constructor(
    private readonly redis: Redis,
    private readonly names: WireNames,
    private readonly quotas: Quotas = { users: {}, groups: {} },
  ) {}

  private hashKey(kind: UsageKind, name: string): string {
    return this.names.redisKey("acct", kind, name);
  }

  private setKey(kind: UsageKind): string {
    return this.names.redisKey("acct", kind);
  }

  /** The entities one record counts against; a job with no group counts for no group. */
  private entities(r: AccountingRecord): [UsageKind, string][] {
    const out: [UsageKind, string][] = [
      ["user", r.userDn],
      ["vo", r.vo],
      ["site", r.site],
    ];
    if (r.group !== "") out.splice(1, 0, ["group", r.group]);
    return out;
  }

  /**
   * Adds one job's record. With `once`, the record is applied only if its seen key was not set, in
   * the same script; returns whether it was applied.
   */
  async add(record: AccountingRecord, once?: { seenKey: string; ttlSec: number }): Promise<boolean> {
    const ents = this.entities(record);
    const keys = [once?.seenKey ?? this.names.redisKey("seen", "unused"), ...ents.flatMap(([k, n]) => [this.hashKey(k, n), this.setKey(k)])];
    const args = [String(once ? Math.max(1, Math.floor(once.ttlSec)) : 0), String(record.wallSec), String(record.userCpuSec + record.sysCpuSec), String(record.maxRssKb), record.preempted === true ? "1" : "0", ...ents.map(([, n]) => n)];
    return (await addScript.run(this.redis, keys, args)) === 1;
  }

  async get(kind: UsageKind, name: string): Promise<Usage> {
    const h = await this.redis.hgetall(this.hashKey(kind, name));
    return { kind, name, jobs: num(h.jobs), wallSec: num(h.wallSec), wastedWallSec: num(h.wastedWallSec), cpuSec: num(h.cpuSec), maxRssKb: num(h.maxRssKb) };
  }

  /** Every entity of a kind that has usage, most wall time first. */
  async list(kind: UsageKind): Promise<Usage[]> {
    const members = (await this.redis.smembers(this.setKey(kind))).sort();
    const p = this.redis.pipeline();
    for (const m of members) p.hgetall(this.hashKey(kind, m));
    const res = (await p.exec()) ?? [];
    const out = members.map((name, i) => {
      const h = (res[i]?.[1] ?? {}) as Record<string, string>;
      return { kind, name, jobs: num(h.jobs), wallSec: num(h.wallSec), wastedWallSec: num(h.wastedWallSec), cpuSec: num(h.cpuSec), maxRssKb: num(h.maxRssKb) };
    });
    return out.sort((a, b) => b.wallSec - a.wallSec || a.name.localeCompare(b.name));
  }

  /**
   * For the intake: undefined while the user and the group are within their wall-clock quotas
   * (config `quotas.users` / `quotas.groups`, hours; no entry = no limit), else which one is over.
   */
  async overQuota(dn: string, group: string): Promise<QuotaExceeded | undefined> {
    const userLimit = this.quotas.users[dn];
    if (userLimit !== undefined) {
      const used = (await this.get("user", dn)).wallSec / 3600;
      if (used >= userLimit) return { scope: "user", name: dn, usedHours: used, limitHours: userLimit };
    }
    const groupLimit = group === "" ? undefined : this.quotas.groups[group];
    if (groupLimit !== undefined) {
      const used = (await this.get("group", group)).wallSec / 3600;
      if (used >= groupLimit) return { scope: "group", name: group, usedHours: used, limitHours: groupLimit };
    }
    return undefined;
  }

  /**
   * For the matchmaker's fair share: this user's fraction (0..1) of all wall time used by every user
   * so far; 0 for a user with no usage or when nobody has used anything. Lower means more deserving.
   */
  async fairShareUsage(dn: string): Promise<number> {
    const shares = await this.fairShareUsages([dn]);
    return shares.get(dn) ?? 0;
  }

  /** The same for many users in one pass (one matchmaking round ranks several owners). */
  async fairShareUsages(dns: readonly string[]): Promise<Map<string, number>> {
    const all = await this.list("user");
    const total = all.reduce((s, u) => s + u.wallSec, 0);
    const byDn = new Map(all.map((u) => [u.name, u.wallSec]));
    return new Map(dns.map((dn) => [dn, total > 0 ? (byDn.get(dn) ?? 0) / total : 0]));
  }
}
