// The job log store: each attempt's LogReport in Redis, kept JOB_LOG_RETAIN_SEC (a week, long
// enough to debug a task, short enough that failed payloads cannot fill Redis). One hash per
// attempt and a sorted set of the job's attempts, both expiring together.
import type { RedisClient } from "../../platform/redis-client.ts";
import { LogReport, type WireNames } from "../../schemas/index.ts";

export const JOB_LOG_RETAIN_SEC = 7 * 24 * 3600;

export interface JobLogAttempt {
  readonly attempt: number;
  readonly at: number;
}

export class JobLogStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly retainSec = JOB_LOG_RETAIN_SEC,
  ) {}

  // A job's logs share the job's shard (one Redis Cluster slot), so `put` stays one MULTI on a cluster.
  private attemptsKey(jobId: string): string {
    return this.names.shardKey(this.names.shardTag("j", jobId), "joblog");
  }

  /** Where one attempt's logs are kept. */
  attemptKey(jobId: string, attempt: number): string {
    return this.names.shardKey(this.names.shardTag("j", jobId), "joblog", String(attempt));
  }

  /** Stores (or overwrites, for a redelivered report) one attempt's logs. */
  async put(r: LogReport): Promise<void> {
    const key = this.attemptKey(r.jobId, r.attempt);
    await this.redis
      .multi()
      .set(key, JSON.stringify(r), "EX", this.retainSec)
      .zadd(this.attemptsKey(r.jobId), r.attempt, String(r.attempt))
      .expire(this.attemptsKey(r.jobId), this.retainSec)
      .exec();
  }

  /** The attempts with logs, oldest first. */
  async attempts(jobId: string): Promise<number[]> {
    return (await this.redis.zrange(this.attemptsKey(jobId), 0, -1)).map(Number);
  }

  /** One attempt's logs (validated as read back), or the latest attempt's when `attempt` is undefined. */
  async get(jobId: string, attempt?: number): Promise<LogReport | undefined> {
    const n = attempt ?? (await this.attempts(jobId)).at(-1);
    if (n === undefined) return undefined;
    const text = await this.redis.get(this.attemptKey(jobId, n));
    return text === null ? undefined : LogReport.parseJson(text);
  }
}
