// A pilot's heartbeat, answered: one message names every job the pilot holds, each job's lease is
// renewed (fenced by attempt, lease token and pilot) and each gets its own answer, so a cancel or a
// "you no longer hold this job" reaches the one payload it concerns. The whole message is checked
// before anything is renewed: bad input is refused with its code and changes nothing. Each job's
// MAC is checked before its lease is renewed or its state moved (security/heartbeat-key.ts): a job
// id, attempt and lease token read off another pilot's match reply renew nothing.
import { ERR, instantText, SCHEMA_VERSION, siteSubjectToken, WmsError, type ErrorCode, type Heartbeat, type HeartbeatBatch, type HeartbeatJobReply, type HeartbeatReply } from "../schemas/index.ts";
import { LEASED_STATES, REPORTING_STATES, UNCONFIRMED_STATE, parseLockToken, type Fence, type JobState } from "../jobs/index.ts";
import type { HeartbeatClaim } from "../security/index.ts";

/** One job's lease as its pilot's heartbeat names it. */
export interface LeaseRenewal {
  readonly jobId: string;
  readonly fence: Fence & { readonly pilotId: string };
}

/** What renewing one lease found: whether the lease was extended, and the fence's verdict on the record. */
export interface LeaseStatus {
  readonly extended: boolean;
  readonly verdict: "current" | "ended" | "stale" | "unknown";
  readonly state: JobState | undefined;
}

export type HeartbeatResult = "ok" | "cancelled" | "lost" | "stale" | "forged";

/** Why one job of a heartbeat was refused before anything was done for it. */
export interface HeartbeatRefusal {
  readonly pilotId: string;
  readonly site: string;
  readonly jobId: string;
  readonly attempt: number;
  readonly code: ErrorCode;
  readonly reason: string;
}

export interface HeartbeatDeps {
  /** Renews a batch of leases, one status per renewal in order (the jobs core's batch call). */
  renewLeases(batch: readonly LeaseRenewal[]): Promise<LeaseStatus[]>;
  /**
   * The first heartbeat of a claim still `sent` confirms it (the jobs core's confirmClaim): false when
   * it was given back first, and the pilot must then run nothing.
   */
  confirm(jobId: string, fence: LeaseRenewal["fence"]): Promise<boolean>;
  /** The payload ended: the job moves to holding, fenced like the heartbeat that said so. */
  hold(jobId: string, fence: LeaseRenewal["fence"]): Promise<void>;
  readonly lockMs: number;
  count(result: HeartbeatResult): void;
  /** True when `mac` was made with the heartbeat key of the attempt `claim` names. */
  macHolds(claim: HeartbeatClaim, mac: string): boolean;
  /** A job's heartbeat was not authentic (or not fresh): log, audit and count it. */
  refused(r: HeartbeatRefusal): void;
  /** Now, for the freshness window (tests move it). */
  now?(): number;
}

/**
 * How far a heartbeat's `sentAt` may be from the matchmaker's clock: the lease itself, at least a
 * minute. A heartbeat captured on the wire (a misconfigured server lets anyone subscribe) can then
 * keep a lease alive at most this long past its sending; pilots, whose clocks also check envelope
 * expiry, are expected to run NTP like the rest of the grid.
 */
export function heartbeatWindowMs(lockMs: number): number {
  return Math.max(lockMs, 60_000);
}

const leased = LEASED_STATES as readonly string[];
const reporting = REPORTING_STATES as readonly string[];

function refusal(jobId: string, code: ErrorCode, message: string): HeartbeatJobReply {
  const w = new WmsError(code, message);
  return { jobId, ...w.toReply() };
}

/**
 * `subjectSite`: the site token of the subject the heartbeat came on (undefined on the base subject
 * of older pilots). A pilot heartbeats on its own site's subject; one naming another site would
 * land on a matchmaker that does not serve it, so it is refused whole.
 */
export async function answerHeartbeats(batch: HeartbeatBatch, subjectSite: string | undefined, d: HeartbeatDeps): Promise<HeartbeatJobReply[]> {
  checkSubjectSite("heartbeat", batch.site, subjectSite);
  const seen = new Set<string>();
  for (const j of batch.jobs) {
    if (seen.has(j.jobId)) throw new WmsError(ERR.BAD_INPUT, `heartbeat names job ${j.jobId} twice; name each job once`);
    seen.add(j.jobId);
  }
  const now = d.now?.() ?? Date.now();
  const window = heartbeatWindowMs(d.lockMs);
  const fresh = Math.abs(now - batch.sentAt) <= window;
  const replies: (HeartbeatJobReply | undefined)[] = batch.jobs.map((j) => {
    const forged = (code: ErrorCode, reason: string): HeartbeatJobReply => {
      d.count("forged");
      d.refused({ pilotId: batch.pilotId, site: batch.site, jobId: j.jobId, attempt: j.attempt, code, reason });
      return refusal(j.jobId, code, `heartbeat for job ${j.jobId} refused, lease not renewed: ${reason}`);
    };
    if (!fresh) return forged(ERR.SEC_REQUEST_EXPIRED, `sent at ${instantText(batch.sentAt)}, more than ${window / 1000} s from this matchmaker's clock (check the node's clock)`);
    const claim: HeartbeatClaim = { pilotId: batch.pilotId, site: batch.site, sentAt: batch.sentAt, jobId: j.jobId, attempt: j.attempt, leaseToken: j.lockToken, state: j.state };
    if (!d.macHolds(claim, j.mac)) return forged(ERR.SEC_HEARTBEAT_FORGED, `not made with the heartbeat key of attempt ${j.attempt}, which only the pilot the job was handed to holds`);
    const where = parseLockToken(j.lockToken);
    if (where && where.site === batch.site) return undefined;
    d.count("lost");
    return refusal(j.jobId, ERR.MATCH_LOCK_LOST, `lock token of job ${j.jobId} does not belong to a job at ${batch.site}`);
  });
  const todo = batch.jobs.flatMap((j, i) => (replies[i] ? [] : [{ i, j, renewal: { jobId: j.jobId, fence: { attempt: j.attempt, leaseToken: j.lockToken, pilotId: batch.pilotId } } }]));
  const statuses = todo.length > 0 ? await d.renewLeases(todo.map((t) => t.renewal)) : [];
  const lockedUntil = Date.now() + d.lockMs;
  await Promise.all(
    todo.map(async ({ i, j, renewal }, k) => {
      const held = statuses[k];
      if (held.verdict === "stale") {
        d.count("stale");
        replies[i] = refusal(j.jobId, ERR.JOB_STALE_UPDATE, `job ${j.jobId} attempt ${j.attempt} is no longer held by this lease; stop it, its reports will be refused`);
        return;
      }
      if (held.state === "cancelled") {
        d.count("cancelled");
        replies[i] = { jobId: j.jobId, status: "cancelled", reason: "the job was cancelled" };
        return;
      }
      // A job whose payload ended needs no lock: lease expiry never requeues it.
      const reportingNow = held.state !== undefined && reporting.includes(held.state);
      if (held.verdict === "unknown" || (!held.extended && !reportingNow)) {
        d.count("lost");
        replies[i] = refusal(j.jobId, ERR.MATCH_LOCK_LOST, `job ${j.jobId} is no longer held by pilot ${batch.pilotId}; stop it`);
        return;
      }
      // A claim's first heartbeat confirms it; a pilot told otherwise runs nothing (lifecycle.ts).
      if (held.state === UNCONFIRMED_STATE && !(await d.confirm(j.jobId, renewal.fence))) {
        d.count("stale");
        replies[i] = refusal(j.jobId, ERR.JOB_STALE_UPDATE, `the claim of job ${j.jobId} attempt ${j.attempt} was given back before this pilot confirmed it; run nothing`);
        return;
      }
      // The payload ended: from here only its report (or the holding timeout) moves the job on.
      if (j.state === "holding" && held.state !== undefined && leased.includes(held.state)) await d.hold(j.jobId, renewal.fence);
      d.count("ok");
      replies[i] = { jobId: j.jobId, status: "ok", lockedUntil };
    }),
  );
  return replies.map((r, i) => r ?? refusal(batch.jobs[i].jobId, ERR.INTERNAL, "no answer was made for this job"));
}

/** The site token of a per-site subject (`<base>.<site>`); undefined on the base subject itself. */
export function subjectSiteOf(subject: string, base: string): string | undefined {
  return subject.length > base.length + 1 && subject.startsWith(`${base}.`) ? subject.slice(base.length + 1) : undefined;
}

/** A message names its site; on a per-site subject it must be that subject's site (else: bad input, nothing done). */
export function checkSubjectSite(what: string, site: string, subjectSite: string | undefined): void {
  if (subjectSite !== undefined && siteSubjectToken(site) !== subjectSite) {
    throw new WmsError(ERR.BAD_INPUT, `${what} of site '${site}' sent on the subject of site '${subjectSite}'; send it on its own site's subject`);
  }
}

/** An older pilot's single-job heartbeat, as a batch of one. */
export function batchOfOne(hb: Heartbeat): HeartbeatBatch {
  return { schemaVersion: SCHEMA_VERSION, pilotId: hb.pilotId, site: hb.site, sentAt: hb.sentAt, jobs: [{ jobId: hb.jobId, attempt: hb.attempt, lockToken: hb.lockToken, state: hb.state, mac: hb.mac }] };
}

/** The single-job reply an older pilot understands, from its job's answer. */
export function singleReply(r: HeartbeatJobReply): HeartbeatReply {
  if (r.status === "ok") return { schemaVersion: SCHEMA_VERSION, status: "ok", lockedUntil: r.lockedUntil };
  if (r.status === "cancelled") return { schemaVersion: SCHEMA_VERSION, status: "cancelled", reason: r.reason };
  return { schemaVersion: SCHEMA_VERSION, status: "error", code: r.code, name: r.name, message: r.message };
}
