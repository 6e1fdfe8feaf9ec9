// Heartbeats while a job is the pilot's, from claim until its final report is out: each one renews
// the job's lease at the matchmaker, naming the attempt and lease token it holds, and the reply is
// how a cancel (or "you no longer hold this job") reaches the pilot.
import type { NatsConnection } from "nats";
import { ERR, Heartbeat, HeartbeatReply, SCHEMA_VERSION, type WireNames } from "../../schemas/index.ts";
import type { Logger } from "../../platform/logger.ts";

export type HeartbeatState = Heartbeat["state"];

export interface HeartbeatOptions {
  readonly nc: NatsConnection;
  readonly names: WireNames;
  readonly pilotId: string;
  readonly jobId: string;
  readonly attempt: number;
  readonly site: string;
  readonly lockToken: string;
  readonly intervalMs: number;
  /** The matchmaker says the job was cancelled: kill the payload with PAYLOAD_CANCELLED. */
  readonly onCancel: (reason: string) => void;
  /** This pilot no longer holds the job (lease lost, or a newer attempt exists): stop it. */
  readonly onLockLost: (reason: string) => void;
  readonly logger?: Logger;
}

export interface JobHeartbeat {
  /** `holding` beats at once: the job store must know the payload ended before lease expiry could requeue it. */
  setState(state: HeartbeatState): void;
  /** Resolves true once the matchmaker acknowledged `holding`; false if this pilot lost the job or `stop()` came first. */
  holdingAcknowledged(): Promise<boolean>;
  stop(): void;
}

const encoder = new TextEncoder();

export function startHeartbeat(o: HeartbeatOptions): JobHeartbeat {
  let state: HeartbeatState = "starting";
  let stopped = false;
  let inFlight: Promise<void> | undefined;
  let again = false;
  let settleHolding: ((ok: boolean) => void) | undefined;
  const holding = new Promise<boolean>((resolve) => (settleHolding = resolve));
  const beatOnce = async (): Promise<void> => {
    const sent = state;
    try {
      const msg: Heartbeat = { schemaVersion: SCHEMA_VERSION, pilotId: o.pilotId, jobId: o.jobId, attempt: o.attempt, site: o.site, lockToken: o.lockToken, state: sent, sentAt: Date.now() };
      const reply = await o.nc.request(o.names.subjects.heartbeat, encoder.encode(JSON.stringify(msg)), { timeout: Math.max(1000, o.intervalMs) });
      if (stopped) return;
      const r = HeartbeatReply.parseJson(reply.data);
      if (r.status === "ok" && sent === "holding") settleHolding?.(true);
      if (r.status === "cancelled") o.onCancel(r.reason ?? "cancelled by its owner");
      else if (r.status === "error" && (r.code === ERR.MATCH_LOCK_LOST || r.code === ERR.JOB_STALE_UPDATE)) {
        settleHolding?.(false);
        o.onLockLost(r.message);
      } else if (r.status === "error") o.logger?.warn({ jobId: o.jobId, code: r.code }, `heartbeat refused: ${r.message}`);
    } catch (e) {
      // A missed beat is not fatal: the lease outlives several intervals and the matchmaker may be restarting.
      if (!stopped) o.logger?.warn({ jobId: o.jobId, err: (e as Error).message }, "heartbeat got no answer");
    }
  };
  const beat = (): void => {
    if (stopped) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = beatOnce().finally(() => {
      inFlight = undefined;
      if (again && !stopped) {
        again = false;
        beat();
      }
    });
  };
  const timer = setInterval(beat, o.intervalMs);
  beat();
  return {
    setState: (s) => {
      const changed = s !== state;
      state = s;
      if (changed && s === "holding") beat();
    },
    holdingAcknowledged: () => holding,
    stop: () => {
      stopped = true;
      clearInterval(timer);
      settleHolding?.(false);
    },
  };
}
