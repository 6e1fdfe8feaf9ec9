// Usage per user, group, VO and site, in Redis hashes: `acct:<kind>:<name>` with fields jobs,
// wallSec, wastedWallSec, cpuSec, maxRssKb, and `acct:<kind>` sets of names. The intake reads
// `overQuota`, the matchmaker the users' wall time (match-fair-share.ts), `wms accounting report` `list`.
//
// Sharded by user: USAGE_BUCKETS buckets, each one Redis Cluster slot (`{<ns>:a:<bucket>}`), and a
// record goes wholly into its user's bucket (the user's hash, and that bucket's share of the group,
// VO and site hashes), so one script applies it exactly once on a cluster too. A user is read from
// one bucket; a group, VO or site is summed over the buckets (max for maxRssKb).
import type { AccountingRecord, WireNames, WmsConfig } from "../../schemas/index.ts";
import { bucketOf, ERR, WmsError } from "../../schemas/index.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import { redisScript } from "../../platform/redis-script.ts";

/** Enough buckets to spread a busy accounting agent over the masters; few enough to sum on read. */
export const USAGE_BUCKETS = 16;

/** The bucket (shard tag) holding a user's records. */
export function usageShard(names: WireNames, userDn: string): string {
  return names.shardTag("a", String(bucketOf(userDn, USAGE_BUCKETS)));
}

function bucketShard(names: WireNames, bucket: number): string {
  return names.shardTag("a", String(bucket));
}

/** A usage hash in a bucket: for a user, the whole of its usage; for the other kinds, that bucket's share. */
export function usageHashKey(names: WireNames, shard: string, kind: UsageKind, name: string): string {
  return names.shardKey(shard, "acct", kind, name);
}

function usageSetKey(names: WireNames, shard: string, kind: UsageKind): string {
  return names.shardKey(shard, "acct", kind);
}

/** The entities one record counts against; a job with no group counts for no group. */
function entities(r: AccountingRecord): [UsageKind, string][] {
  const out: [UsageKind, string][] = [
    ["user", r.userDn],
    ["vo", r.vo],
    ["site", r.site],
  ];
  if (r.group !== "") out.splice(1, 0, ["group", r.group]);
  return out;
}

/**
 * The agent's mark that an attempt was accounted for (one record per attempt, whatever its id), in
 * its user's bucket: `add`'s seen key, holding the id of the record that was applied.
 */
export function attemptAccountedKey(names: WireNames, record: Pick<AccountingRecord, "userDn" | "jobId" | "attempt">): string {
  return names.shardKey(usageShard(names, record.userDn), "seen", "accounted", record.jobId, String(record.attempt));
}

/** The add script's KEYS: the seen key (or a placeholder), then each entity's hash and name set, all in the user's bucket. */
export function usageAddKeys(names: WireNames, record: AccountingRecord, seenKey?: string): string[] {
  const shard = usageShard(names, record.userDn);
  return [seenKey ?? names.shardKey(shard, "seen", "unused"), ...entities(record).flatMap(([k, n]) => [usageHashKey(names, shard, k, n), usageSetKey(names, shard, k)])];
}

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
// The mark holds the id of the record that set it, so a key that stands for more than one record
// (the agent's: one per attempt, `attemptAccountedKey`) tells a redelivery of that record (0) from
// another record for the same attempt (-1), which a pilot that holds the attempt could otherwise
// send again and again under fresh ids. Every key is in the record's user's bucket (one slot).
// HINCRBYFLOAT for times (fractions of seconds add up); max RSS is a compare-and-set, which MULTI
// cannot express. KEYS: seen key, then per entity its hash and its name set. ARGV: ttl, wall, cpu,
// rss, preempted ('1': the wall time goes to wastedWallSec instead), the record's id, then the
// entity names.
const ADD_LUA = `
if ARGV[1] ~= '0' then
  if not redis.call('SET', KEYS[1], ARGV[6], 'NX', 'EX', ARGV[1]) then
    if redis.call('GET', KEYS[1]) == ARGV[6] then return 0 end
    return -1
  end
end
local n = (#KEYS - 1) / 2
for i = 1, n do
  local h = KEYS[2 * i]
  redis.call('HINCRBY', h, 'jobs', 1)
  redis.call('HINCRBYFLOAT', h, ARGV[5] == '1' and 'wastedWallSec' or 'wallSec', ARGV[2])
  redis.call('HINCRBYFLOAT', h, 'cpuSec', ARGV[3])
  local cur = tonumber(redis.call('HGET', h, 'maxRssKb') or '0')
  if tonumber(ARGV[4]) > cur then redis.call('HSET', h, 'maxRssKb', ARGV[4]) end
  redis.call('SADD', KEYS[2 * i + 1], ARGV[6 + i])
end
return 1
`;

const addScript = redisScript(ADD_LUA);

function num(v: string | undefined): number {
  return v === undefined || v === "" ? 0 : Number(v);
}

function usageOf(kind: UsageKind, name: string, h: Record<string, string> | undefined): Usage {
  return { kind, name, jobs: num(h?.jobs), wallSec: num(h?.wallSec), wastedWallSec: num(h?.wastedWallSec), cpuSec: num(h?.cpuSec), maxRssKb: num(h?.maxRssKb) };
}

function plus(a: Usage, b: Usage): Usage {
  return { ...a, jobs: a.jobs + b.jobs, wallSec: a.wallSec + b.wallSec, wastedWallSec: a.wastedWallSec + b.wastedWallSec, cpuSec: a.cpuSec + b.cpuSec, maxRssKb: Math.max(a.maxRssKb, b.maxRssKb) };
}

export class UsageStore {
  private readonly shards: readonly string[];

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly quotas: Quotas = { users: {}, groups: {} },
  ) {
    this.shards = Array.from({ length: USAGE_BUCKETS }, (_, i) => bucketShard(names, i));
  }

  /** The shard a record is applied in: its user's. A handler marking the record seen puts its key there. */
  shardOf(record: Pick<AccountingRecord, "userDn">): string {
    return usageShard(this.names, record.userDn);
  }

  private setKey(shard: string, kind: UsageKind): string {
    return usageSetKey(this.names, shard, kind);
  }

  /**
   * Adds one job's record. With `once`, the record is applied only if its seen key (which must be in
   * `shardOf(record)`) was not set, in the same script; returns whether it was applied (false: this
   * record was applied before). A seen key set by another record (`attemptAccountedKey`: the
   * attempt was accounted for already) throws REPORT_ATTEMPT_ACCOUNTED and adds nothing.
   */
  async add(record: AccountingRecord, once?: { seenKey: string; ttlSec: number }): Promise<boolean> {
    const ents = entities(record);
    const keys = usageAddKeys(this.names, record, once?.seenKey);
    const args = [String(once ? Math.max(1, Math.floor(once.ttlSec)) : 0), String(record.wallSec), String(record.userCpuSec + record.sysCpuSec), String(record.maxRssKb), record.preempted === true ? "1" : "0", record.reportId, ...ents.map(([, n]) => n)];
    const added = (await addScript.run(this.redis, keys, args)) as number;
    if (added === -1) throw new WmsError(ERR.REPORT_ATTEMPT_ACCOUNTED, `attempt ${record.attempt} of job ${record.jobId} was accounted for by another record; ${record.reportId} adds nothing`);
    return added === 1;
  }

  // Reads are separate commands, not a pipeline: a cluster pipeline must stay in one slot, and the
  // connections are auto-pipelined, so the commands of one call still share one write per server.
  async get(kind: UsageKind, name: string): Promise<Usage> {
    const shards = kind === "user" ? [usageShard(this.names, name)] : this.shards;
    const hs = await Promise.all(shards.map((s) => this.redis.hgetall(usageHashKey(this.names, s, kind, name))));
    return hs.map((h) => usageOf(kind, name, h)).reduce(plus);
  }

  /** Every entity of a kind that has usage, most wall time first. */
  async list(kind: UsageKind): Promise<Usage[]> {
    const memberSets = await Promise.all(this.shards.map((s) => this.redis.smembers(this.setKey(s, kind))));
    const parts = memberSets.flatMap((members, i) => members.map((name) => ({ name, shard: this.shards[i] })));
    const hs = await Promise.all(parts.map((p) => this.redis.hgetall(usageHashKey(this.names, p.shard, kind, p.name))));
    const byName = new Map<string, Usage>();
    parts.forEach((p, i) => {
      const u = usageOf(kind, p.name, hs[i]);
      const prev = byName.get(p.name);
      byName.set(p.name, prev ? plus(prev, u) : u);
    });
    return [...byName.values()].sort((a, b) => b.wallSec - a.wallSec || a.name.localeCompare(b.name));
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
