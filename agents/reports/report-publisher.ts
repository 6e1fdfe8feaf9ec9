// Publishes reports so that none is lost: persistent messages on a confirm channel, each one waited
// for; whatever the broker does not confirm (unreachable, closed channel, nack, confirm timeout) goes
// to the disk spool, and a background loop resends the spool oldest first once the broker is back,
// deleting a file only after its confirm. A spooled report that was in fact delivered before the
// failure may be sent twice: consumers are idempotent by reportId, so a duplicate is harmless and a
// loss is impossible — that is the side we fail on.
// When the spool cannot be written either (disk full, folder gone), the report is held in memory and
// resent by the same loop: `heldCount()` tells the pilot to take no new job and not to exit until it
// is out. Reports are published `mandatory` (AMQP 0-9-1 basic.publish): one the broker cannot route
// to any queue comes back (basic.return, before its ack) and counts as not delivered, never as
// confirmed; `unroutableCount()` counts them.
import type { ChannelModel, ConfirmChannel } from "amqplib";
import type { Logger } from "pino";
import { ERR, WmsError, type Report, type WireNames, type WmsConfig } from "../../schemas/index.ts";
import { checkTopology, declareTopology, routingKeyFor } from "./topology.ts";
import { connectRabbit } from "../../platform/connections.ts";
import { ReportSpool } from "./report-spool.ts";

export interface ReportPublisherOptions {
  /** amqp://user:pass@host:port, or a comma-separated list tried in order (failover). */
  url: string;
  /**
   * The identity and settings of config.rabbitmq (user, password file, vhost, TLS). Whether to
   * declare the topology or only check it comes from its `declareTopology` (pilots only check).
   * Without it, the credentials in `url` (or guest) and declaring.
   */
  rabbit?: Omit<WmsConfig["rabbitmq"], "url">;
  names: WireNames;
  /** Folder for reports RabbitMQ has not confirmed yet; reused across restarts. */
  spoolDir: string;
  logger: Logger;
  /** How long to wait for one confirm before spooling the report (default 5000). */
  confirmTimeoutMs?: number;
  /** TCP connect timeout (default 3000). */
  connectTimeoutMs?: number;
  /** First and largest pause between resend attempts (defaults 250 and 5000). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Spooled reports sent per round before waiting for their confirms (default 200). */
  resendBatch?: number;
  /**
   * How often an idle publisher looks in the spool folder for reports another process left there
   * (default 5000; 0: never). The folder is the node's, shared by its pilots: one that died or exited
   * while RabbitMQ was away leaves its reports to whichever pilot still runs on the node.
   */
  adoptEveryMs?: number;
}

const encoder = new TextEncoder();

export class ReportPublisher {
  private readonly names: WireNames;
  private readonly logger: Logger;
  private readonly spool: ReportSpool;
  private readonly confirmTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly resendBatch: number;
  private conn: ChannelModel | undefined;
  private ch: ConfirmChannel | undefined;
  private connecting: Promise<ConfirmChannel> | undefined;
  private lastFailureAt = 0;
  private retryMs: number;
  private drainTimer: NodeJS.Timeout | undefined;
  private adoptTimer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private inFlight = 0;
  private closed = false;
  /** Reports neither confirmed nor on disk, oldest first: the spool could not be written. */
  private readonly held: Report[] = [];
  /** messageIds the broker returned as unroutable on the current channel. */
  private readonly returned = new Set<string>();
  private unroutable = 0;

  constructor(private readonly opts: ReportPublisherOptions) {
    this.names = opts.names;
    this.logger = opts.logger;
    this.spool = new ReportSpool(opts.spoolDir);
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 5000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    this.retryMinMs = opts.retryMinMs ?? 250;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.resendBatch = opts.resendBatch ?? 200;
    this.retryMs = this.retryMinMs;
    // A previous process may have left reports behind: start sending them now.
    if (this.spool.count() > 0) this.scheduleDrain(0);
    const adoptEveryMs = opts.adoptEveryMs ?? 5000;
    if (adoptEveryMs > 0) {
      this.adoptTimer = setInterval(() => void this.adoptLeftovers(), adoptEveryMs);
      this.adoptTimer.unref();
    }
  }

  /**
   * Reports another process spooled on this node and did not send (it exited or died while RabbitMQ
   * was away, or was killed holding claimed files) become ours to send. Each file is sent by the one
   * publisher that claimed it (report-spool.ts), so N pilots on a node do not send it N times.
   */
  private async adoptLeftovers(): Promise<void> {
    if (this.closed || this.drainTimer || this.draining) return;
    const before = this.spool.count();
    const n = await this.spool.adopt().catch(() => before);
    if (n > before) this.logger.info({ code: ERR.REPORT_SPOOLED, adopted: n - before }, "sending reports another pilot left in this node's spool");
    if (n > 0) this.scheduleDrain(0);
  }

  /** Reports in this node's spool folder, whoever spooled them: what is still to reach RabbitMQ from here. */
  async spooledOnNode(): Promise<number> {
    return this.spool.adopt().catch(() => this.spool.count());
  }

  /** Reports held in memory only (the spool could not be written): lost if the process dies now. */
  heldCount(): number {
    return this.held.length;
  }

  /** Publishes the broker returned as unroutable (no queue bound for the routing key) since start. */
  unroutableCount(): number {
    return this.unroutable;
  }

  /** Reports on disk not yet confirmed by RabbitMQ. */
  spooledCount(): number {
    return this.spool.count();
  }

  /**
   * Resolves once the report is confirmed by RabbitMQ, safely on disk in the spool, or — when the
   * spool cannot be written — held in memory (`heldCount()`); the last two are resent in the background.
   */
  async publish(report: Report): Promise<void> {
    if (this.closed) throw new WmsError(ERR.INTERNAL, "report publisher is closed; create a new one to publish");
    this.inFlight++;
    try {
      // While anything is spooled, new reports queue behind it so one job's reports keep their order.
      // Right after a failure we do not make every caller wait for another connect attempt.
      const recentlyFailed = this.ch === undefined && Date.now() - this.lastFailureAt < this.retryMs;
      if (this.spool.count() === 0 && this.held.length === 0 && !recentlyFailed) {
        try {
          await this.send(report, await this.channel());
          return;
        } catch (e) {
          this.noteFailure(e);
        }
      }
      // Once one report is held in memory, later ones queue behind it there too, keeping their order.
      if (this.held.length === 0) {
        try {
          await this.spool.append(report);
          this.logger.warn({ code: ERR.REPORT_SPOOLED, reportId: report.reportId, spooled: this.spool.count() }, "report spooled to disk until RabbitMQ confirms");
          this.scheduleDrain(this.ch ? 0 : this.retryMs);
          return;
        } catch (e) {
          this.logger.error({ code: ERR.REPORT_SPOOLED, reportId: report.reportId, err: (e as Error).message }, "report spool unwritable; report held in memory until RabbitMQ confirms it");
        }
      }
      this.held.push(report);
      this.logger.warn({ code: ERR.REPORT_SPOOLED, reportId: report.reportId, held: this.held.length }, "report held in memory until RabbitMQ confirms");
      this.scheduleDrain(this.ch ? 0 : this.retryMs);
    } finally {
      this.inFlight--;
    }
  }

  /** Waits until every report is confirmed (spool empty, nothing in flight); false on timeout. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // The folder, not only our count: a previous process's files count as unconfirmed too.
      const pending = this.held.length > 0 || this.spool.count() > 0 || (await this.spool.oldest(1).catch(() => [])).length > 0;
      if (!pending && this.inFlight === 0 && this.draining === undefined) return true;
      if (pending) this.scheduleDrain(0);
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stops the resend loop and closes the connection; spooled reports stay on disk for the next publisher. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.adoptTimer) clearInterval(this.adoptTimer);
    this.adoptTimer = undefined;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    await this.draining;
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    const conn = this.conn;
    this.conn = undefined;
    this.ch = undefined;
    await conn?.close().catch(() => undefined);
  }

  private noteFailure(e: unknown): void {
    this.lastFailureAt = Date.now();
    this.logger.warn({ err: (e as Error).message }, "RabbitMQ publish failed");
    // A channel that failed a confirm is not trusted again: reconnect from scratch.
    const conn = this.conn;
    this.conn = undefined;
    this.ch = undefined;
    void conn?.close().catch(() => undefined);
  }

  private channel(): Promise<ConfirmChannel> {
    if (this.ch) return Promise.resolve(this.ch);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<ConfirmChannel> {
    const conn = await connectRabbit(this.opts.url, this.opts.rabbit ?? { declareTopology: true }, this.connectTimeoutMs);
    try {
      conn.on("error", (e: Error) => this.logger.warn({ err: e.message }, "RabbitMQ connection error"));
      conn.on("close", () => {
        if (this.conn === conn) {
          this.conn = undefined;
          this.ch = undefined;
          this.lastFailureAt = Date.now();
        }
      });
      const ch = await conn.createConfirmChannel();
      // basic.return comes before the ack of the same publish, so send() sees it when the ack lands.
      ch.on("return", (msg: { properties: { messageId?: unknown } }) => {
        if (typeof msg.properties.messageId === "string") this.returned.add(msg.properties.messageId);
      });
      ch.on("error", (e: Error) => this.logger.warn({ err: e.message }, "RabbitMQ channel error"));
      ch.on("close", () => {
        if (this.ch === ch) {
          this.ch = undefined;
          void conn.close().catch(() => undefined);
        }
      });
      if (this.opts.rabbit?.declareTopology === false) await checkTopology(ch, this.names);
      else await declareTopology(ch, this.names);
      if (this.closed) throw new Error("publisher closed while connecting");
      this.conn = conn;
      this.ch = ch;
      this.logger.debug("RabbitMQ publisher connected");
      return ch;
    } catch (e) {
      await conn.close().catch(() => undefined);
      throw e;
    }
  }

  private send(report: Report, ch: ConfirmChannel): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no confirm within ${this.confirmTimeoutMs} ms`)), this.confirmTimeoutMs);
      const body = Buffer.from(encoder.encode(JSON.stringify(report)));
      try {
        ch.publish(
          this.names.rabbit.reportsExchange,
          routingKeyFor(this.names, report.kind),
          body,
          { persistent: true, mandatory: true, messageId: report.reportId, contentType: "application/json", type: report.kind, timestamp: Math.floor(Date.now() / 1000) },
          (err: unknown) => {
            clearTimeout(timer);
            if (err) reject(err instanceof Error ? err : new Error("broker nacked the report"));
            else if (this.returned.delete(report.reportId)) {
              this.unroutable++;
              this.logger.error({ reportId: report.reportId, kind: report.kind, unroutable: this.unroutable }, "RabbitMQ returned the report as unroutable (no queue bound); kept for resending");
              reject(new Error("report unroutable: no queue bound for its routing key"));
            } else resolve();
          },
        );
      } catch (e) {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private scheduleDrain(delayMs: number): void {
    if (this.closed || this.drainTimer || this.draining) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.draining = this.drain().then((sent) => {
        this.draining = undefined;
        // Something may have been spooled while we were finishing; do not strand it. Straight away
        // only while we are making progress, so nothing here can spin.
        if (this.spool.count() > 0 || this.held.length > 0) this.scheduleDrain(this.ch && sent > 0 ? 0 : this.retryMs);
      });
    }, delayMs);
    this.drainTimer.unref();
  }

  /** Resends the spool oldest first; returns how many were confirmed. Never rejects. */
  private async drain(): Promise<number> {
    let sent = 0;
    let claimedNone = 0;
    try {
      for (;;) {
        if (this.closed) return sent;
        // An unreadable spool folder (the reason reports are held in memory) must not stop those.
        const files = await this.spool.oldest(this.resendBatch).catch(() => [] as string[]);
        if (files.length === 0) {
          // The folder is empty, but our count may still hold files another publisher on the node
          // sent and removed for us: without this, every later report went through the disk (and
          // every pilot of the node raced to send it) until the next adopt, or for good without one.
          await this.spool.adopt().catch(() => undefined);
          break;
        }
        const ch = await this.channel();
        // Only the files this publisher claimed are its to send: the node's other pilots see the same
        // folder, and without the claim each of them sent every file once more.
        const mine = await this.spool.claim(files);
        if (mine.length === 0) {
          // All taken by other publishers meanwhile: look again, but a folder we cannot rename in
          // (every claim failing) must not spin here.
          if (++claimedNone > 3) break;
          continue;
        }
        const loaded = await Promise.all(mine.map(async (f) => ({ file: f, report: await this.spool.read(f) })));
        // Sent back to back (the broker keeps their order), confirmed together.
        const results = await Promise.allSettled(loaded.map(({ report }) => (report ? this.send(report, ch) : Promise.resolve())));
        let failure: unknown;
        for (let i = 0; i < loaded.length; i++) {
          const r = results[i];
          if (r.status === "fulfilled") {
            if (loaded[i].report) {
              await this.spool.remove(loaded[i].file);
              sent++;
            }
          } else {
            failure ??= r.reason;
            // Back into the folder for whichever publisher of the node gets through first.
            await this.spool.release(loaded[i].file);
          }
        }
        if (failure !== undefined) throw failure;
      }
      // Then what only memory holds, oldest first, one at a time so a failure keeps the order.
      while (this.held.length > 0) {
        if (this.closed) return sent;
        await this.send(this.held[0], await this.channel());
        this.held.shift();
        sent++;
      }
      this.retryMs = this.retryMinMs;
      if (sent > 0) this.logger.info({ sent }, "report spool drained");
    } catch (e) {
      this.noteFailure(e);
      // The finally in scheduleDrain tries again after this pause; nothing leaves the spool meanwhile.
      this.retryMs = Math.min(this.retryMs * 2, this.retryMaxMs);
    }
    return sent;
  }
}
