// The base every report agent runs on: manual acks, a prefetch window, validation where the report
// enters, idempotence by reportId, dead-lettering with a reason, and reconnecting by itself.
// Competing consumers: start as many as you like on one queue (in one process or many); RabbitMQ
// hands each report to one of them and redelivers whatever a dead consumer left unacked.
//
// Dead letters carry their reason: a poison report (bad JSON, wrong kind, schema) or one whose
// handler fails for good is republished to the dead-letter exchange with headers
// `x-wms-reason-code` (a registry code, 1900 for schema), `x-wms-reason` (the validation message),
// `x-wms-queue` and `x-wms-consumer`, confirmed, and only then the original is acked. If the
// republish fails, the original is nacked without requeue so the queue's own
// x-dead-letter-exchange still catches it (reason then only in the log): never lost, never looping.
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from "amqplib";
import { connectRabbit } from "../../platform/connections.ts";
import { redactUrl } from "../../platform/service-targets.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { Logger } from "pino";
import { ERR, isRetryable, isWmsError, WmsError, type Report, type WireNames, type WmsConfig } from "../../schemas/index.ts";
import { decodeReport } from "./report-decoder.ts";
import { declareTopology, QUEUE_KINDS, type ReportQueue } from "./topology.ts";
import { REFUSAL_CODES, ReportRefusals } from "./report-refusals.ts";

export interface ReportContext {
  /**
   * Redis key marking this report as applied. Handlers that can should set it (`SET NX EX`) in the
   * same script as their effect; the base sets it after the handler returns in any case.
   */
  readonly seenKey: string;
  /**
   * The same mark in a Redis Cluster shard of the handler's choosing (a hash tag from
   * WireNames.shardTag), for a handler whose script must keep all its keys in one slot.
   */
  seenKeyIn(shardTag: string): string;
  readonly seenTtlSec: number;
  readonly redelivered: boolean;
}

/**
 * Applies one report. Throw a WmsError with a non-retryable code to dead-letter the report with that
 * reason; any other failure requeues it after `retryDelayMs` (Redis away, a bug being fixed).
 * Resolve to "duplicate" when the handler's own atomic seen-check found the report already applied
 * (two copies handled at once by competing consumers), so the stats say so.
 */
export type ReportHandler = (report: Report, ctx: ReportContext) => Promise<void | "duplicate">;

/** Where and as whom a report consumer reads (what every agent's consumer is given); the rest of ReportConsumerOptions is each consumer's own. */
export type ReportConsumerBase = Pick<ReportConsumerOptions, "url" | "rabbit" | "names" | "redis" | "logger" | "prefetch">;

export interface ReportConsumerOptions {
  /** One URL or a comma-separated list tried in order (failover). */
  url: string;
  /** The identity and settings of config.rabbitmq (user, password file, vhost, TLS); default: those in `url`. */
  rabbit?: Omit<WmsConfig["rabbitmq"], "url">;
  names: WireNames;
  redis: RedisClient;
  logger: Logger;
  queue: ReportQueue;
  /** Names this consumer in seen keys and dead-letter headers, e.g. "accounting". */
  consumer: string;
  handle: ReportHandler;
  /**
   * The handler checks and sets `ctx.seenKey` atomically with its effect (and returns "duplicate"
   * when it was set): the base then skips its own check and mark, two Redis round trips per report.
   */
  handlerMarksSeen?: boolean;
  prefetch?: number;
  /** How long a report id is remembered (default 7 days: longer than any spool outage). */
  seenTtlSec?: number;
  retryDelayMs?: number;
  reconnectMs?: number;
}

export interface ConsumerStats {
  processed: number;
  duplicates: number;
  deadLettered: number;
  requeued: number;
  /** Of the dead-lettered: refused for what they claim (REFUSAL_CODES: forged, stale, misattributed, accounted twice). */
  refused: number;
}

/** A consumer's mark that a report was applied, in the shard (hash tag) its handler's script runs in. */
export function seenKeyIn(names: WireNames, consumer: string, reportId: string, shardTag: string): string {
  return names.shardKey(shardTag, "seen", consumer, reportId);
}

export const DEAD_LETTER_HEADERS = {
  code: "x-wms-reason-code",
  reason: "x-wms-reason",
  queue: "x-wms-queue",
  consumer: "x-wms-consumer",
} as const;

export class ReportConsumer {
  readonly stats: ConsumerStats = { processed: 0, duplicates: 0, deadLettered: 0, requeued: 0, refused: 0 };
  private conn: ChannelModel | undefined;
  private ch: ConfirmChannel | undefined;
  private stopped = false;
  private inFlight = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private consumerTag: string | undefined;
  private readonly seenTtlSec: number;
  private readonly queueName: string;
  private readonly refusals: ReportRefusals;

  constructor(private readonly opts: ReportConsumerOptions) {
    this.refusals = new ReportRefusals(opts.redis, opts.names);
    this.seenTtlSec = opts.seenTtlSec ?? 7 * 86400;
    this.queueName = opts.names.rabbit.queues[opts.queue];
  }

  /** Connects and starts consuming; throws E1003 if RabbitMQ does not answer now (later outages are retried). */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (e) {
      if (isWmsError(e)) throw e;
      throw new WmsError(ERR.SERVICE_UNAVAILABLE, `RabbitMQ at ${redactUrl(this.opts.url)}: ${(e as Error).message}; start it or fix rabbitmq.url`);
    }
  }

  /** Stops taking reports, lets the ones in hand finish (up to `graceMs`), then closes. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const ch = this.ch;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    const deadline = Date.now() + graceMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(10);
    await this.dropConnection();
  }

  /** Drops the connection at once with reports unacked — what a crash does; RabbitMQ redelivers them. */
  async abort(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.dropConnection();
  }

  private async dropConnection(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.ch = undefined;
    await conn?.close().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const conn = await connectRabbit(this.opts.url, this.opts.rabbit ?? { declareTopology: true }, 5000);
    try {
      conn.on("error", (e: Error) => this.opts.logger.warn({ err: e.message, queue: this.queueName }, "RabbitMQ connection error"));
      conn.on("close", () => {
        if (this.conn !== conn) return;
        this.conn = undefined;
        this.ch = undefined;
        this.scheduleReconnect();
      });
      const ch = await conn.createConfirmChannel();
      ch.on("error", (e: Error) => this.opts.logger.warn({ err: e.message, queue: this.queueName }, "RabbitMQ channel error"));
      ch.on("close", () => {
        if (this.ch === ch) void conn.close().catch(() => undefined);
      });
      await declareTopology(ch, this.opts.names);
      await ch.prefetch(this.opts.prefetch ?? 32);
      this.conn = conn;
      this.ch = ch;
      const ok = await ch.consume(this.queueName, (msg) => void this.onMessage(ch, msg), { noAck: false });
      this.consumerTag = ok.consumerTag;
      this.opts.logger.info({ queue: this.queueName, consumer: this.opts.consumer }, "consuming reports");
    } catch (e) {
      this.conn = undefined;
      this.ch = undefined;
      await conn.close().catch(() => undefined);
      throw e;
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopped) return;
      this.connect().catch((e: Error) => {
        this.opts.logger.warn({ err: e.message, queue: this.queueName }, "RabbitMQ reconnect failed; retrying");
        this.scheduleReconnect();
      });
    }, this.opts.reconnectMs ?? 500);
    this.reconnectTimer.unref();
  }

  private async onMessage(ch: ConfirmChannel, msg: ConsumeMessage | null): Promise<void> {
    if (msg === null) return; // the broker cancelled us (queue deleted); the close handler reconnects
    this.inFlight++;
    try {
      await this.process(ch, msg);
    } catch (e) {
      // Only the channel dying mid-ack lands here; the broker redelivers the report.
      this.opts.logger.debug({ err: (e as Error).message }, "report left unacked");
    } finally {
      this.inFlight--;
    }
  }

  private async process(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    let decoded: ReturnType<typeof decodeReport>;
    try {
      decoded = decodeReport(msg.content, QUEUE_KINDS[this.opts.queue]);
    } catch (e) {
      // Whatever the decoder did not foresee in these bytes is theirs, not a reason to leave them
      // unacked: a message neither acked nor dead-lettered holds a prefetch slot until a restart.
      decoded = { ok: false, problem: `cannot be decoded (${(e as Error).message.slice(0, 200)})` };
    }
    if (!decoded.ok) {
      await this.deadLetter(ch, msg, ERR.REPORT_BAD_SCHEMA, decoded.problem);
      return;
    }
    const report = decoded.report;
    const seenKey = this.opts.names.redisKey("seen", this.opts.consumer, report.reportId);
    let outcome: void | "duplicate";
    try {
      if (!this.opts.handlerMarksSeen && (await this.opts.redis.exists(seenKey)) === 1) {
        ch.ack(msg);
        this.stats.duplicates++;
        return;
      }
      const inShard = (tag: string): string => seenKeyIn(this.opts.names, this.opts.consumer, report.reportId, tag);
      outcome = await this.opts.handle(report, { seenKey, seenKeyIn: inShard, seenTtlSec: this.seenTtlSec, redelivered: msg.fields.redelivered });
      // After the effect, not before: a crash in between replays the report, and every handler
      // tolerates a replay (atomic seen-check in its script, or guarded state transitions). Marking
      // first would turn that crash into a lost report.
      if (!this.opts.handlerMarksSeen) await this.opts.redis.set(seenKey, "1", "EX", this.seenTtlSec, "NX");
    } catch (e) {
      if (isWmsError(e) && !isRetryable(e.code)) {
        if (REFUSAL_CODES.has(e.code)) {
          this.stats.refused++;
          this.opts.logger.warn({ code: e.code, reportId: report.reportId, kind: report.kind, jobId: report.jobId, pilotId: report.pilotId, consumer: this.opts.consumer }, `report refused: ${e.message}`);
          // Counted and audited before the dead letter: a refusal must leave a trace even if the
          // republish fails (the queue's own dead-letter exchange then catches the report).
          await this.refusals.record(report, e.code, this.opts.consumer, e.message).catch((err: Error) => this.opts.logger.error({ err: err.message }, "report refusal not recorded"));
        }
        await this.deadLetter(ch, msg, e.code, e.message);
        return;
      }
      this.opts.logger.warn({ err: (e as Error).message, reportId: report.reportId, queue: this.queueName }, "report handler failed; requeueing");
      await sleep(this.opts.retryDelayMs ?? 1000);
      ch.nack(msg, false, true);
      this.stats.requeued++;
      return;
    }
    ch.ack(msg);
    if (outcome === "duplicate") this.stats.duplicates++;
    else this.stats.processed++;
  }

  private async deadLetter(ch: ConfirmChannel, msg: ConsumeMessage, code: number, reason: string): Promise<void> {
    this.opts.logger.error({ code, reason, queue: this.queueName, messageId: msg.properties.messageId }, "report dead-lettered");
    const headers = {
      ...(msg.properties.headers ?? {}),
      [DEAD_LETTER_HEADERS.code]: code,
      [DEAD_LETTER_HEADERS.reason]: reason.slice(0, 2000),
      [DEAD_LETTER_HEADERS.queue]: this.queueName,
      [DEAD_LETTER_HEADERS.consumer]: this.opts.consumer,
    };
    try {
      await new Promise<void>((resolve, reject) => {
        ch.publish(this.opts.names.rabbit.deadLetterExchange, msg.fields.routingKey, msg.content, { persistent: true, headers, messageId: msg.properties.messageId as string | undefined, contentType: msg.properties.contentType as string | undefined }, (err: unknown) =>
          err ? reject(err instanceof Error ? err : new Error("dead-letter publish nacked")) : resolve(),
        );
      });
      ch.ack(msg);
    } catch {
      ch.nack(msg, false, false);
    }
    this.stats.deadLettered++;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
