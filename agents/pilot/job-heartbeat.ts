// Heartbeats while jobs are the pilot's, from claim until each one's final report is out: one
// message per interval for every job the pilot holds, on its site's subject, so a pilot running
// several jobs (one per core) costs the matchmaker one request, not one per job. Each job's lease
// is renewed under its own attempt and lease token, and its answer in the reply is how a cancel
// (or "you no longer hold this job") reaches that job alone. Each job's entry carries a MAC made
// with the attempt's heartbeat key, which the matchmaker sent this pilot alone (encrypted to its
// key): the lease token, which other pilots can read, renews nothing by itself.
//
// Two faults would otherwise let a payload run on after its lease lapsed, while the matchmaker hands
// the job to another pilot (the payload then runs twice, and the two stage their outputs to the same
// place):
// - A clock minutes off. A heartbeat's `sentAt` must be within the matchmaker's freshness window of
//   its clock, so it is stamped on the matchmaker's clock as the pilot last saw it: the `issuedAt`
//   of the newest envelope plus the monotonic time since it came, whatever the node's wall clock says.
// - A lease that cannot be renewed: the pilot's NATS connection is down (its link, or the servers),
//   or the matchmaker answers but refuses to renew. The matchmakers' lease checks run on Redis and go
//   on, so the lease lapses; the pilot, measuring on its monotonic clock from the last beat that was
//   renewed, stops the payload (MATCH_LOCK_LOST) just before it can (`fenceAtMs`). Beats that merely
//   go unanswered on a live connection (no matchmaker up, one too slow) do not count: while no
//   matchmaker runs nobody checks leases, and the checker that comes back adds that time to every
//   lease (jobs/README.md, "Lease and holding checks").
import { performance } from "node:perf_hooks";
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
  /**
   * With the deployment's lease (`jobs.leaseSec`), a job whose lease cannot be renewed is stopped
   * before it lapses: earlier by the payload's SIGTERM-to-SIGKILL grace (at most a quarter of the
   * lease), which the pilot owns, so it comes with the lease rather than as a second default here.
   */
  readonly lease?: { readonly ms: number; readonly killGraceMs: number };
  readonly logger?: Logger;
}

export interface TrackedJob {
  readonly jobId: string;
  readonly attempt: number;
  readonly lockToken: string;
  /** The attempt's heartbeat key, decrypted from the envelope (`encryptedKeys`). */
  readonly heartbeatKey: string;
  /** The matchmaker says the job was cancelled: kill the payload with PAYLOAD_CANCELLED. */
  readonly onCancel: (reason: string) => void;
  /** This pilot no longer holds the job (lease lost, or a newer attempt exists): stop it. */
  readonly onLockLost: (reason: string) => void;
}

export interface JobHeartbeat {
  /**
   * Resolves true once the matchmaker answered a beat of this job with `ok`, which it does only for
   * a claim it confirmed (jobs/lifecycle.ts, UNCONFIRMED_STATE); false when the claim was given back
   * first, the job cancelled, or `stop()` came first. Nothing of the job may start before it is true.
   */
  confirmed(): Promise<boolean>;
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
  /** Monotonic ms when the last beat that renewed the lease was sent (when the job joined, just after its claim, at first). */
  renewedAt: number;
  /** The matchmaker's last answer for this job refused to renew it (a clock outside the window, a bad MAC). */
  refused: boolean;
  /** Stopped for an unrenewable lease (`onLockLost` called once). */
  fenced: boolean;
  settleHolding: (ok: boolean) => void;
  readonly holding: Promise<boolean>;
  /** An `ok` came for this job: its claim is confirmed. */
  confirmedNow: boolean;
  settleConfirmed: (ok: boolean) => void;
  readonly confirmation: Promise<boolean>;
}

/** A beat that got no answer while a claim waits for its confirmation is sent again after this. */
const CONFIRM_RETRY_MS = 1000;
/** And waits at most this long for its answer then, whatever the interval. */
const CONFIRM_ANSWER_WAIT_MS = 5000;

const encoder = new TextEncoder();

/** The pilot's one heartbeat: jobs join it at claim (`track`) and leave it when their report is out. */
export class PilotHeartbeats {
  private readonly jobs = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  /** The matchmaker's clock as last seen: an envelope's `issuedAt` and the monotonic time it came. */
  private matchmakerClock: { readonly at: number; readonly mono: number } | undefined;
  private disconnected = false;

  constructor(private readonly o: PilotHeartbeatsOptions) {
    void (async () => {
      for await (const s of o.nc.status()) {
        if (s.type === "disconnect") this.disconnected = true;
        else if (s.type === "reconnect") this.disconnected = false;
      }
    })().catch(() => undefined);
  }

  /**
   * The matchmaker's clock, from a verified envelope's `issuedAt` (which came just now). It only
   * moves forward: an envelope's time is checked on this clock, so none can set it back.
   */
  syncClock(issuedAt: number): void {
    if (this.matchmakerClock !== undefined && issuedAt <= this.now()) return;
    this.matchmakerClock = { at: issuedAt, mono: performance.now() };
  }

  /** Whether an envelope set the matchmaker's clock yet (until then `now()` is the node's own). */
  get clockKnown(): boolean {
    return this.matchmakerClock !== undefined;
  }

  /** Now on the matchmaker's clock (the node's own before any envelope came). */
  now(): number {
    const c = this.matchmakerClock;
    return c === undefined ? Date.now() : Math.round(c.at + performance.now() - c.mono);
  }

  /**
   * How long a lease may go unrenewed before its job is stopped: the lease less the kill grace and a
   * check's period, so the payload is gone when the lease lapses; never less than 3/4 of the lease.
   */
  private fenceAtMs(lease: { readonly ms: number; readonly killGraceMs: number }): number {
    return lease.ms - Math.min(lease.killGraceMs + this.fencePeriodMs(), lease.ms / 4);
  }

  private fencePeriodMs(): number {
    return Math.min(this.o.intervalMs, 1000);
  }

  /** A claimed job joins the heartbeat; it beats at once, so its lease is renewed from claim time. */
  track(job: TrackedJob): JobHeartbeat {
    let settleHolding: (ok: boolean) => void = () => undefined;
    const holding = new Promise<boolean>((resolve) => (settleHolding = resolve));
    let settleConfirmed: (ok: boolean) => void = () => undefined;
    const confirmation = new Promise<boolean>((resolve) => (settleConfirmed = resolve));
    const entry: Entry = { job, state: "starting", stopped: false, renewedAt: performance.now(), refused: false, fenced: false, settleHolding, holding, confirmedNow: false, settleConfirmed, confirmation };
    this.jobs.set(job.jobId, entry);
    this.timer ??= setInterval(() => this.beat(), this.o.intervalMs);
    if (this.o.lease !== undefined) this.fenceTimer ??= setInterval(() => this.fence(), this.fencePeriodMs());
    this.beat();
    return {
      setState: (s) => {
        const changed = s !== entry.state;
        entry.state = s;
        if (changed && s === "holding") this.beat();
      },
      holdingAcknowledged: () => entry.holding,
      confirmed: () => entry.confirmation,
      stop: () => {
        entry.stopped = true;
        entry.settleHolding(false);
        entry.settleConfirmed(false);
        if (this.jobs.get(job.jobId) === entry) this.jobs.delete(job.jobId);
        if (this.jobs.size === 0 && this.timer) {
          clearInterval(this.timer);
          clearInterval(this.fenceTimer);
          this.timer = undefined;
          this.fenceTimer = undefined;
        }
      },
    };
  }

  /**
   * Stops each job whose lease may lapse before the pilot can renew it. A job whose payload ended
   * (`holding`) is never requeued by lease expiry, so only jobs before that are stopped.
   */
  private fence(): void {
    const lease = this.o.lease;
    if (lease === undefined) return;
    const now = performance.now();
    for (const e of this.jobs.values()) {
      if (e.stopped || e.fenced || e.state === "holding") continue;
      const unrenewedMs = now - e.renewedAt;
      if (unrenewedMs < this.fenceAtMs(lease) || !(this.disconnected || e.refused)) continue;
      e.fenced = true;
      const why = this.disconnected ? "the pilot's NATS connection is down" : "the matchmaker refuses to renew it";
      const reason = `the lease of job ${e.job.jobId} was not renewed for ${(unrenewedMs / 1000).toFixed(1)} s (${why}); it lapses after ${lease.ms / 1000} s and the job goes to another pilot, so the payload is stopped here`;
      this.o.logger?.warn({ jobId: e.job.jobId, code: ERR.MATCH_LOCK_LOST }, reason);
      e.settleConfirmed(false);
      e.job.onLockLost(reason);
    }
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
    const sentMono = performance.now();
    const sentAt = this.now();
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
    // A claim waiting for its confirmation is asked about again soon, not an interval later: the job
    // starts only once it is confirmed, and the matchmaker gives back one left unconfirmed.
    const confirming = sent.some(({ entry }) => !entry.confirmedNow && !entry.stopped);
    const again = (): void => {
      if (confirming) setTimeout(() => this.beat(), CONFIRM_RETRY_MS).unref();
    };
    let reply: HeartbeatBatchReply;
    try {
      const timeout = Math.max(1000, confirming ? Math.min(o.intervalMs, CONFIRM_ANSWER_WAIT_MS) : o.intervalMs);
      const data = (await o.nc.request(o.names.heartbeatFor(o.site), encoder.encode(JSON.stringify(msg)), { timeout })).data;
      reply = HeartbeatBatchReply.parseJson(data);
    } catch (e) {
      // A missed beat is not fatal: the lease outlives several intervals and the matchmaker may be restarting.
      o.logger?.warn({ jobs: msg.jobs.map((j) => j.jobId), err: (e as Error).message }, "heartbeat got no answer");
      again();
      return;
    }
    if (reply.status === "error") {
      o.logger?.warn({ jobs: msg.jobs.map((j) => j.jobId), code: reply.code }, `heartbeat refused: ${reply.message}`);
      again();
      return;
    }
    sent.forEach(({ entry, state }, i) => {
      const r = reply.jobs[i];
      if (entry.stopped || !r || r.jobId !== entry.job.jobId) return;
      entry.refused = r.status === "error";
      if (r.status === "ok") {
        entry.renewedAt = Math.max(entry.renewedAt, sentMono);
        entry.confirmedNow = true;
        entry.settleConfirmed(true);
      }
      if (r.status === "ok" && state === "holding") entry.settleHolding(true);
      if (r.status === "cancelled") {
        entry.settleConfirmed(false);
        entry.job.onCancel(r.reason);
      } else if (r.status === "error" && (r.code === ERR.MATCH_LOCK_LOST || r.code === ERR.JOB_STALE_UPDATE)) {
        entry.settleHolding(false);
        entry.settleConfirmed(false);
        entry.job.onLockLost(r.message);
      } else if (r.status === "error") {
        o.logger?.warn({ jobId: entry.job.jobId, code: r.code }, `heartbeat refused: ${r.message}`);
        if (!entry.confirmedNow) again();
      }
    });
  }
}
