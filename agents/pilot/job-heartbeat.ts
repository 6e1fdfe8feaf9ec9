// Heartbeats while jobs are the pilot's, from claim until each one's final report is out: one
// message per interval for every job the pilot holds, on its site's subject, so a pilot running
// several jobs (one per core) costs the matchmaker one request, not one per job. Each job's lease
// is renewed under its own attempt and lease token, and its answer in the reply is how a cancel
// (or "you no longer hold this job") reaches that job alone. Each job's entry carries a MAC made
// with the attempt's heartbeat key, which the matchmaker sent this pilot alone (encrypted to its
// key): the lease token, which other pilots can read, renews nothing by itself.
import type { NatsConnection } from "nats";
import { ERR, HeartbeatBatch, HeartbeatBatchReply, SCHEMA_VERSION, type HeartbeatJob, type WireNames } from "../../schemas/index.ts";
import type { Logger } from "../../platform/logger.ts";
import { heartbeatMac } from "../../security/index.ts";

export type HeartbeatState = HeartbeatJob["state"];

export interface PilotHeartbeatsOptions {
  readonly nc: NatsConnection;
  readonly names: WireNames;
  readonly pilotId: string;
  readonly site: string;
  readonly intervalMs: number;
  readonly logger?: Logger;
}

export interface TrackedJob {
  readonly jobId: string;
  readonly attempt: number;
  readonly lockToken: string;
  /** The attempt's heartbeat key, decrypted from the envelope (`encryptedHeartbeatKey`). */
  readonly heartbeatKey: string;
  /** The matchmaker says the job was cancelled: kill the payload with PAYLOAD_CANCELLED. */
  readonly onCancel: (reason: string) => void;
  /** This pilot no longer holds the job (lease lost, or a newer attempt exists): stop it. */
  readonly onLockLost: (reason: string) => void;
}

export interface JobHeartbeat {
  /** `holding` beats at once: the job store must know the payload ended before lease expiry could requeue it. */
  setState(state: HeartbeatState): void;
  /** Resolves true once the matchmaker acknowledged `holding`; false if this pilot lost the job or `stop()` came first. */
  holdingAcknowledged(): Promise<boolean>;
  /** The job's final report is out: it leaves the heartbeat. */
  stop(): void;
}

interface Entry {
  readonly job: TrackedJob;
  state: HeartbeatState;
  stopped: boolean;
  settleHolding: (ok: boolean) => void;
  readonly holding: Promise<boolean>;
}

const encoder = new TextEncoder();

/** The pilot's one heartbeat: jobs join it at claim (`track`) and leave it when their report is out. */
export class PilotHeartbeats {
  private readonly jobs = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;

  constructor(private readonly o: PilotHeartbeatsOptions) {}

  /** A claimed job joins the heartbeat; it beats at once, so its lease is renewed from claim time. */
  track(job: TrackedJob): JobHeartbeat {
    let settleHolding: (ok: boolean) => void = () => undefined;
    const holding = new Promise<boolean>((resolve) => (settleHolding = resolve));
    const entry: Entry = { job, state: "starting", stopped: false, settleHolding, holding };
    this.jobs.set(job.jobId, entry);
    this.timer ??= setInterval(() => this.beat(), this.o.intervalMs);
    this.beat();
    return {
      setState: (s) => {
        const changed = s !== entry.state;
        entry.state = s;
        if (changed && s === "holding") this.beat();
      },
      holdingAcknowledged: () => entry.holding,
      stop: () => {
        entry.stopped = true;
        entry.settleHolding(false);
        if (this.jobs.get(job.jobId) === entry) this.jobs.delete(job.jobId);
        if (this.jobs.size === 0 && this.timer) {
          clearInterval(this.timer);
          this.timer = undefined;
        }
      },
    };
  }

  /** One beat at a time; a beat asked for while one is out goes right after it, with the states then. */
  private beat(): void {
    if (this.jobs.size === 0) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = this.beatOnce().finally(() => {
      this.inFlight = undefined;
      if (this.again) {
        this.again = false;
        this.beat();
      }
    });
  }

  private async beatOnce(): Promise<void> {
    const o = this.o;
    const sent = [...this.jobs.values()].map((e) => ({ entry: e, state: e.state }));
    const sentAt = Date.now();
    const msg: HeartbeatBatch = {
      schemaVersion: SCHEMA_VERSION,
      pilotId: o.pilotId,
      site: o.site,
      sentAt,
      jobs: sent.map(({ entry: { job }, state }) => ({
        jobId: job.jobId,
        attempt: job.attempt,
        lockToken: job.lockToken,
        state,
        mac: heartbeatMac(job.heartbeatKey, { pilotId: o.pilotId, site: o.site, sentAt, jobId: job.jobId, attempt: job.attempt, leaseToken: job.lockToken, state }),
      })),
    };
    let reply: HeartbeatBatchReply;
    try {
      const data = (await o.nc.request(o.names.heartbeatFor(o.site), encoder.encode(JSON.stringify(msg)), { timeout: Math.max(1000, o.intervalMs) })).data;
      reply = HeartbeatBatchReply.parseJson(data);
    } catch (e) {
      // A missed beat is not fatal: the lease outlives several intervals and the matchmaker may be restarting.
      o.logger?.warn({ jobs: msg.jobs.map((j) => j.jobId), err: (e as Error).message }, "heartbeat got no answer");
      return;
    }
    if (reply.status === "error") {
      o.logger?.warn({ jobs: msg.jobs.map((j) => j.jobId), code: reply.code }, `heartbeat refused: ${reply.message}`);
      return;
    }
    sent.forEach(({ entry, state }, i) => {
      const r = reply.jobs[i];
      if (entry.stopped || !r || r.jobId !== entry.job.jobId) return;
      if (r.status === "ok" && state === "holding") entry.settleHolding(true);
      if (r.status === "cancelled") entry.job.onCancel(r.reason);
      else if (r.status === "error" && (r.code === ERR.MATCH_LOCK_LOST || r.code === ERR.JOB_STALE_UPDATE)) {
        entry.settleHolding(false);
        entry.job.onLockLost(r.message);
      } else if (r.status === "error") o.logger?.warn({ jobId: entry.job.jobId, code: r.code }, `heartbeat refused: ${r.message}`);
    });
  }
}
