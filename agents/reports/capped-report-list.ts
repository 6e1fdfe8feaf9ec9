// A newest-first, length-capped Redis list of reports for people to read (audit trail, error log):
// the monitor shows it, operators grep the logs for the rest. Appending checks the consumer's seen
// key in the same script, so a redelivered report is listed once.
import type { Redis } from "ioredis";
import type { Report } from "../../schemas/index.ts";
import { redisScript } from "../../platform/redis-script.ts";

const PUSH_LUA = `
if ARGV[1] ~= '0' then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 0 end
end
redis.call('LPUSH', KEYS[1], ARGV[3])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
`;

const pushScript = redisScript(PUSH_LUA);

export class CappedReportList<R extends Report> {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly cap = 10_000,
  ) {}

  /** Returns whether the report was added (false: its seen key was already set). */
  async push(report: R, once?: { seenKey: string; ttlSec: number }): Promise<boolean> {
    const ttl = once ? String(Math.max(1, Math.floor(once.ttlSec))) : "0";
    return (await pushScript.run(this.redis, [this.key, once?.seenKey ?? this.key + ":unused"], [ttl, String(this.cap), JSON.stringify(report)])) === 1;
  }

  /** Newest first. Entries were validated when they entered from RabbitMQ. */
  async recent(limit = 100, offset = 0): Promise<R[]> {
    const raw = await this.redis.lrange(this.key, offset, offset + limit - 1);
    return raw.map((s) => JSON.parse(s) as R);
  }

  async length(): Promise<number> {
    return this.redis.llen(this.key);
  }
}
