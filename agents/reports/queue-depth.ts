// How many reports wait in each report queue and in the dead-letter queue, and how many consumers
// read each: the report pipeline's depth, for `/metrics`. The agents sample it with passive queue
// declares (AMQP queue.declare passive=true answers with the message and consumer counts, so no
// management plugin is needed) and write it to Redis, where the monitor reads it at each scrape.
// A sample carries its time: one older than a few intervals is not shown (the agents are gone and
// the figure would be a frozen guess).
import type { ChannelModel } from "amqplib";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { Logger } from "pino";
import { connectRabbit } from "../../platform/connections.ts";
import type { WireNames, WmsConfig } from "../../schemas/index.ts";
import { QUEUE_KINDS, type ReportQueue } from "./topology.ts";

/** A report queue by its role (`deadLetter` for the dead-letter queue). */
export type SampledQueue = ReportQueue | "deadLetter";

export interface QueueDepth {
  readonly queue: SampledQueue;
  /** Ready messages (not yet delivered, or delivered and returned); unacked ones are not counted. */
  readonly messages: number;
  readonly consumers: number;
  /** When it was sampled (ms since the epoch). */
  readonly at: number;
}

export const SAMPLED_QUEUES: readonly SampledQueue[] = [...(Object.keys(QUEUE_KINDS) as ReportQueue[]), "deadLetter"];

/** Default sampling interval of the agents. */
export const QUEUE_DEPTH_INTERVAL_MS = 15_000;
/** Samples older than this many intervals are not shown. */
const STALE_INTERVALS = 4;

export function queueDepthKey(names: WireNames): string {
  return names.redisKey("reports", "queue-depth");
}

/** One sample of every report queue; a queue that does not exist (yet) is left out. */
export async function sampleQueueDepths(conn: ChannelModel, names: WireNames, nowMs: number): Promise<QueueDepth[]> {
  const out: QueueDepth[] = [];
  for (const queue of SAMPLED_QUEUES) {
    // A passive declare of a missing queue closes the channel (404): one channel per queue.
    const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    try {
      const r = await ch.checkQueue(names.rabbit.queues[queue]);
      out.push({ queue, messages: r.messageCount, consumers: r.consumerCount, at: nowMs });
    } catch {
      // not declared yet: nothing to show
    } finally {
      await ch.close().catch(() => undefined);
    }
  }
  return out;
}

export async function writeQueueDepths(redis: RedisClient, names: WireNames, depths: readonly QueueDepth[], intervalMs: number): Promise<void> {
  if (depths.length === 0) return;
  const key = queueDepthKey(names);
  await redis
    .multi()
    .hset(key, Object.fromEntries(depths.map((d) => [d.queue, JSON.stringify(d)])))
    .pexpire(key, intervalMs * STALE_INTERVALS)
    .exec();
}

/** The latest samples not older than STALE_INTERVALS intervals. */
export async function readQueueDepths(redis: RedisClient, names: WireNames, nowMs: number, intervalMs = QUEUE_DEPTH_INTERVAL_MS): Promise<QueueDepth[]> {
  const h = await redis.hgetall(queueDepthKey(names));
  const out: QueueDepth[] = [];
  for (const queue of SAMPLED_QUEUES) {
    const text = h[queue];
    if (text === undefined) continue;
    try {
      const d = JSON.parse(text) as Partial<QueueDepth>;
      if (typeof d.messages !== "number" || typeof d.consumers !== "number" || typeof d.at !== "number") continue;
      if (nowMs - d.at > intervalMs * STALE_INTERVALS) continue;
      out.push({ queue, messages: d.messages, consumers: d.consumers, at: d.at });
    } catch {
      // written by another version: skip
    }
  }
  return out;
}

export interface QueueDepthSamplerOptions {
  readonly url: string;
  readonly rabbit: Omit<WmsConfig["rabbitmq"], "url">;
  readonly names: WireNames;
  readonly redis: RedisClient;
  readonly logger: Logger;
  readonly intervalMs?: number;
}

/** Samples every interval on a connection of its own (reconnected when lost) until stopped. */
export class QueueDepthSampler {
  private conn: ChannelModel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly intervalMs: number;

  constructor(private readonly o: QueueDepthSamplerOptions) {
    this.intervalMs = o.intervalMs ?? QUEUE_DEPTH_INTERVAL_MS;
  }

  /** Takes a first sample at once, then one per interval. */
  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.sampleOnce().finally(() => {
        this.running = undefined;
        if (!this.stopped) {
          this.timer = setTimeout(tick, this.intervalMs);
          this.timer.unref();
        }
      });
    };
    tick();
  }

  async sampleOnce(): Promise<void> {
    try {
      if (!this.conn) {
        const conn = await connectRabbit(this.o.url, this.o.rabbit, 5000);
        conn.on("error", () => undefined);
        conn.on("close", () => {
          if (this.conn === conn) this.conn = undefined;
        });
        this.conn = conn;
      }
      const depths = await sampleQueueDepths(this.conn, this.o.names, Date.now());
      await writeQueueDepths(this.o.redis, this.o.names, depths, this.intervalMs);
    } catch (e) {
      this.o.logger.warn({ err: (e as Error).message }, "report queue depths not sampled");
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    const conn = this.conn;
    this.conn = undefined;
    await conn?.close().catch(() => undefined);
  }
}
