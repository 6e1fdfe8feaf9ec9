// A newest-first, length-capped list of reports for people to read (audit trail, error log): the
// monitor shows it, operators grep the logs for the rest. Appending checks the consumer's seen key in
// the same script, so a redelivered report is listed once.
//
// Kept as LIST_BUCKETS Redis lists, each in a Redis Cluster slot of its own (`{<ns>:l:<name>.<n>}`),
// a report going to the bucket of its id: one list would put every append, and every seen key,
// on one master. Each bucket holds its share of the cap; reading merges the buckets by report time.
import { bucketOf, type Report, type WireNames } from "../../schemas/index.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import { redisScript } from "../../platform/redis-script.ts";

export const LIST_BUCKETS = 8;

// KEYS: 1 the bucket's list, 2 the report's seen key (in the bucket's slot).
const PUSH_LUA = `
if ARGV[1] ~= '0' then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 0 end
end
redis.call('LPUSH', KEYS[1], ARGV[3])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
`;

const pushScript = redisScript(PUSH_LUA);

function listShard(names: WireNames, name: string, bucket: number): string {
  return names.shardTag("l", `${name}.${bucket}`);
}

/** The push script's KEYS for a report: its bucket's list and its seen key (or a placeholder) in that bucket. */
export function cappedListPushKeys(names: WireNames, name: string, reportId: string, seenKey?: string): [string, string] {
  const shard = listShard(names, name, bucketOf(reportId, LIST_BUCKETS));
  return [names.shardKey(shard, "list"), seenKey ?? names.shardKey(shard, "unused")];
}

export class CappedReportList<R extends Report & { readonly at: number }> {
  private readonly shards: readonly string[];
  private readonly perBucket: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    readonly name: string,
    readonly cap = 10_000,
  ) {
    this.shards = Array.from({ length: LIST_BUCKETS }, (_, i) => listShard(names, name, i));
    this.perBucket = Math.max(1, Math.ceil(cap / LIST_BUCKETS));
  }

  /** The shard a report is listed in: a handler marking it seen puts its key there. */
  shardOf(report: Pick<R, "reportId">): string {
    return this.shards[bucketOf(report.reportId, LIST_BUCKETS)];
  }

  private listKey(shard: string): string {
    return this.names.shardKey(shard, "list");
  }

  /** Returns whether the report was added (false: its seen key, in `shardOf(report)`, was already set). */
  async push(report: R, once?: { seenKey: string; ttlSec: number }): Promise<boolean> {
    const ttl = once ? String(Math.max(1, Math.floor(once.ttlSec))) : "0";
    return (await pushScript.run(this.redis, cappedListPushKeys(this.names, this.name, report.reportId, once?.seenKey), [ttl, String(this.perBucket), JSON.stringify(report)])) === 1;
  }

  /** Newest first (by report time). Entries were validated when they entered from RabbitMQ. */
  async recent(limit = 100, offset = 0): Promise<R[]> {
    const pages = await Promise.all(this.shards.map((s) => this.redis.lrange(this.listKey(s), 0, offset + limit - 1)));
    const all = pages.flat().map((text) => JSON.parse(text) as R);
    return all.sort((a, b) => b.at - a.at).slice(offset, offset + limit);
  }

  async length(): Promise<number> {
    const lens = await Promise.all(this.shards.map((s) => this.redis.llen(this.listKey(s))));
    return lens.reduce((a, b) => a + b, 0);
  }
}
