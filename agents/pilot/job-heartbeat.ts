// Heartbeats while a job is the pilot's: each one extends the job's lock at the matchmaker, and the
// reply is how a cancel reaches a running payload.
import type { NatsConnection } from "nats";
import { ERR, Heartbeat, HeartbeatReply, SCHEMA_VERSION, type WireNames } from "../../schemas/index.ts";
import type { Logger } from "../../platform/logger.ts";

export type HeartbeatState = Heartbeat["state"];

export interface HeartbeatOptions {
  readonly nc: NatsConnection;
  readonly names: WireNames;
  readonly pilotId: string;
  readonly jobId: string;
  readonly site: string;
  readonly lockToken: string;
  readonly intervalMs: number;
  /** The matchmaker says the job was cancelled: kill the payload with PAYLOAD_CANCELLED. */
  readonly onCancel: (reason: string) => void;
  /** The lock is gone (expired or taken): the job may already run elsewhere. */
  readonly onLockLost: (reason: string) => void;
  readonly logger?: Logger;
}

export interface JobHeartbeat {
  setState(state: HeartbeatState): void;
  stop(): void;
}

const encoder = new TextEncoder();

export function startHeartbeat(o: HeartbeatOptions): JobHeartbeat {
  let state: HeartbeatState = "starting";
  let stopped = false;
  let inFlight = false;
  const beat = async (): Promise<void> => {
    if (stopped || inFlight) return;
    inFlight = true;
    try {
      const msg: Heartbeat = { schemaVersion: SCHEMA_VERSION, pilotId: o.pilotId, jobId: o.jobId, site: o.site, lockToken: o.lockToken, state, sentAt: Date.now() };
      const reply = await o.nc.request(o.names.subjects.heartbeat, encoder.encode(JSON.stringify(msg)), { timeout: Math.max(1000, o.intervalMs) });
      if (stopped) return;
      const r = HeartbeatReply.parseJson(reply.data);
      if (r.status === "cancelled") o.onCancel(r.reason ?? "cancelled by its owner");
      else if (r.status === "error" && r.code === ERR.MATCH_LOCK_LOST) o.onLockLost(r.message);
      else if (r.status === "error") o.logger?.warn({ jobId: o.jobId, code: r.code }, `heartbeat refused: ${r.message}`);
    } catch (e) {
      // A missed beat is not fatal: the lock outlives several intervals and the matchmaker may be restarting.
      if (!stopped) o.logger?.warn({ jobId: o.jobId, err: (e as Error).message }, "heartbeat got no answer");
    } finally {
      inFlight = false;
    }
  };
  const timer = setInterval(() => void beat(), o.intervalMs);
  void beat();
  return {
    setState: (s) => {
      state = s;
    },
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
