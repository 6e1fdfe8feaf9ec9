// One matched job, from envelope to clean-up: verify, fetch the credential, stage in, run,
// heartbeat, stage out, report. Whatever happens, the credentials it fetched are deleted before
// it returns: a pilot leaves nothing of the user's on a shared worker node.
import { randomUUID } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { NatsConnection } from "nats";
import { toWmsError, ERR, WmsError, type EnvelopeBody, type ErrorCode, type MatchEnvelope, type Report, type Site, type WireNames } from "../../schemas/index.ts";
import { decryptKeysFromPilot, refusedOnlyByClock, verifyEnvelope, type AttemptKeys, type SignerCache, type TrustStore } from "../../security/index.ts";
import type { Logger } from "../../platform/logger.ts";
import { logReport, payloadTails, type BoundedLines } from "./attempt-log.ts";
import type { PilotHeartbeats } from "./job-heartbeat.ts";
import { accountingRecord, auditRecord, errorReport, stateReport, type JobContext } from "./job-reports.ts";
import { chooseLauncher } from "./launcher-policy.ts";
import { proxyPathOf, type LaunchedPayload, type PayloadLauncher } from "./payload-launcher.ts";
import { payloadEnvironment } from "./payload-environment.ts";
import { supervise, type PayloadOutcome } from "./payload-supervisor.ts";
import type { CredentialSource, ReportSink, RetrievedProxy } from "./pilot-ports.ts";
import { stageIn } from "./stage-in.ts";
import { OUTPUTS_DIR, stageOut, type StagedOutput } from "./stage-out.ts";

export interface JobRunDeps {
  readonly nc: NatsConnection;
  readonly names: WireNames;
  readonly reports: ReportSink;
  readonly credentials: CredentialSource;
  readonly trust: TrustStore;
  readonly site: Site;
  readonly pilotId: string;
  readonly node: string;
  /** The pilot's ephemeral private key; the one-time proxy key is encrypted to its public half. */
  readonly privateKeyPem: string;
  readonly isNonceNew: (nonce: string, expiresAt: number) => boolean;
  /** Signer pairs this pilot verified; an envelope may name one instead of carrying it. */
  readonly signers?: SignerCache;
  /** Where job dirs are made (one per job). */
  readonly jobsDir: string;
  /** The pilot's 0700 dir (token, keys); the identity switch checks it before switching. */
  readonly secretsDir: string;
  /** PATH handed to payloads. */
  readonly payloadPath: string;
  readonly switchLauncher?: PayloadLauncher;
  /** The pilot's one heartbeat, which this job joins from claim until its report is out. */
  readonly heartbeats: PilotHeartbeats;
  readonly heartbeatMs: number;
  readonly pollMs: number;
  readonly killGraceMs: number;
  /** Renew the proxy this long before it expires. */
  readonly renewMarginMs: number;
  readonly keepJobDirs: boolean;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** The pilot's log lines of this attempt (attempt-log.ts), shipped with the payload's tails. */
  readonly attemptLines?: BoundedLines;
}

export type JobResult =
  /** Nothing ran: the envelope was refused, or its claim was given back before this pilot confirmed it. */
  | { readonly status: "rejected"; readonly code: number; readonly message?: string }
  | { readonly status: "finished"; readonly jobId: string; readonly outputs: StagedOutput[] }
  | { readonly status: "failed"; readonly jobId: string; readonly code: number; readonly message: string };

const MIN_RENEW_INTERVAL_MS = 1000;

const asWmsError = toWmsError;

/**
 * What ended the payload, as a registry code and the detail the registry's sentence lacks; undefined
 * when it succeeded. The detail follows that sentence in every one-line error ("The payload exited
 * with a non-zero code: 7"), so it never says it again.
 */
export function payloadFailure(o: PayloadOutcome): { code: ErrorCode; message: string } | undefined {
  if (o.startError !== undefined) return { code: ERR.PAYLOAD_START_FAILED, message: o.startError };
  if (o.killedFor) return { code: o.killedFor.code, message: o.killedFor.reason };
  if (o.signal) return { code: ERR.PAYLOAD_SIGNALLED, message: o.signal };
  if (o.exitCode !== 0) return { code: ERR.PAYLOAD_FAILED, message: String(o.exitCode) };
  return undefined;
}

export async function runMatchedJob(envelope: MatchEnvelope, d: JobRunDeps): Promise<JobResult> {
  const send = async (r: Report): Promise<void> => {
    try {
      await d.reports.publish(r);
    } catch (e) {
      d.logger?.error({ kind: r.kind, err: (e as Error).message }, "report could not be published or spooled");
    }
  };

  // The pilot authenticates the server by the payload: nothing runs unless the envelope verifies against the CA bundle, is addressed to
  // this pilot, unexpired, and its nonce is new. A refused envelope names no job we trust, so the
  // error report carries no job id: a forged one must not fail someone else's job.
  let body: EnvelopeBody;
  try {
    // Checked on the matchmaker's clock as this pilot last saw it (its own until an envelope came):
    // a node whose clock steps back or ahead after that would otherwise refuse every envelope as
    // issued in the future or expired, and each claim it refuses costs its job an attempt.
    body = verifyEnvelope(envelope, { trust: d.trust, pilotId: d.pilotId, isNonceNew: d.isNonceNew, signers: d.signers, now: d.heartbeats.now() });
  } catch (e) {
    const w = clockRefusal(envelope, asWmsError(e), d) ?? asWmsError(e);
    d.logger?.warn({ code: w.code }, `envelope rejected: ${w.message}`);
    await send(errorReport({ pilotId: d.pilotId, site: d.site.name, code: ERR.PILOT_ENVELOPE_REJECTED, message: `envelope rejected, nothing run: ${w.toLine()}` }));
    return { status: "rejected", code: w.code, message: w.message };
  }

  const job = body.job;
  // The matchmaker's clock, which this pilot's heartbeats and state reports are stamped on (a node's
  // clock minutes off would have its heartbeats refused as stale and its times shown in the future).
  d.heartbeats.syncClock(body.issuedAt);
  // Only this pilot can open the attempt's keys (the envelope verified, so the matchmaker made
  // them): without the heartbeat key no heartbeat of ours would renew the lease, without the proxy
  // key no credential comes, so a message that does not open runs nothing.
  let keys: AttemptKeys;
  try {
    keys = decryptKeysFromPilot(d.privateKeyPem, body.encryptedKeys);
  } catch (e) {
    const w = asWmsError(e);
    d.logger?.warn({ code: w.code, jobId: job.jobId }, `attempt keys do not open: ${w.message}`);
    await send(errorReport({ pilotId: d.pilotId, site: d.site.name, jobId: job.jobId, code: ERR.PILOT_ENVELOPE_REJECTED, message: `the job's keys do not open with this pilot's key, nothing run: ${w.toLine()}` }));
    return { status: "rejected", code: w.code };
  }
  const heartbeatKey = keys.heartbeatKey;
  // From here every report about this attempt is signed with the pilot's report key, which the
  // matchmaker bound to the attempt (body.reportKey); the release comes after the last of them.
  const unbind = d.reports.bindAttempt?.(job.jobId, job.attempt, body.lockToken);
  const ctx: JobContext = { job, pilotId: d.pilotId, lockToken: body.lockToken, submitterDn: body.submitterDn, now: () => d.heartbeats.now() };
  const jobDir = path.join(d.jobsDir, `${job.jobId}.${job.attempt}`);
  const outputsDir = path.join(jobDir, OUTPUTS_DIR);
  let failure: WmsError | undefined;
  let outputs: StagedOutput[] = [];
  let launched: LaunchedPayload | undefined;
  let supervised: ReturnType<typeof supervise> | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  let tails: ReturnType<typeof payloadTails> | undefined;
  // Set when this pilot no longer holds the job (its heartbeat said so, or the lease could not be
  // renewed): a payload not started yet must not start.
  let lockLost: string | undefined;
  // Stamped on the matchmaker's clock too: the cache refuses a request from a clock minutes off.
  const credReq = { oneTimeKey: keys.proxyKey, userDn: body.submitterDn, jobId: job.jobId, pilotId: d.pilotId, attempt: job.attempt, signal: d.signal, now: () => d.heartbeats.now() };

  const heartbeat = d.heartbeats.track({
    jobId: job.jobId,
    attempt: job.attempt,
    lockToken: body.lockToken,
    heartbeatKey,
    onCancel: (reason) => supervised?.kill(ERR.PAYLOAD_CANCELLED, reason),
    onLockLost: (reason) => {
      lockLost ??= reason;
      supervised?.kill(ERR.MATCH_LOCK_LOST, reason);
    },
  });
  // Nothing starts before the matchmaker confirmed the claim (the first beat's answer): a claim it
  // gave back meanwhile (this reply came after the advert's wait, or after the claim's first lease)
  // may already be another pilot's, and this pilot then runs nothing and reports nothing of it.
  const confirmed = await confirmedOrStopped(heartbeat.confirmed(), d.signal);
  if (!confirmed) {
    const why = lockLost ?? (d.signal?.aborted ? "the pilot was stopped first" : "the matchmaker did not confirm it");
    d.logger?.warn({ jobId: job.jobId, attempt: job.attempt, code: ERR.MATCH_LOCK_LOST }, `claim not confirmed, nothing run: ${why}`);
    heartbeat.stop();
    unbind?.();
    return { status: "rejected", code: ERR.MATCH_LOCK_LOST, message: why };
  }
  await send(stateReport(ctx, "starting"));

  try {
    try {
      await mkdir(outputsDir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new WmsError(ERR.PILOT_WORKDIR_FAILED, `${jobDir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    let proxy: RetrievedProxy = await d.credentials.retrieve(credReq);
    await send(auditRecord({ event: "credential-retrieval", dn: body.submitterDn, pilotId: d.pilotId, jobId: job.jobId, site: job.site, node: d.node }));
    const staged = await stageIn(job.inputFiles, d.site.storagePath, jobDir);
    // The attempt's milestones at info: the pilot-log part of the attempt's LogReport is what this
    // logger wrote, and a job that succeeded would otherwise ship an empty one (`wms job log`).
    d.logger?.info({ jobId: job.jobId, attempt: job.attempt, inputs: staged.length }, "inputs staged in");
    if (d.signal?.aborted) throw new WmsError(ERR.PILOT_PREEMPTED, "the batch system preempted the pilot before the payload started");

    if (lockLost !== undefined) throw new WmsError(ERR.MATCH_LOCK_LOST, lockLost);
    const launcher = chooseLauncher(d.site, d.switchLauncher);
    const env = payloadEnvironment({ job, jobDir, outputsDir, inputs: staged.map((s) => s.localPath), proxyPath: proxyPathOf(jobDir), pilotId: d.pilotId, path: d.payloadPath });
    launched = await launcher({ job, lockToken: body.lockToken, submitterDn: body.submitterDn, pilotId: d.pilotId, site: d.site, jobDir, env, proxyPem: proxy.proxyPem, pilotSecretsDir: d.secretsDir, node: d.node });
    const current = launched;
    supervised = supervise(current.child, { walltimeSec: job.walltimeSec, memoryMb: job.memoryMb, pollMs: d.pollMs, graceMs: d.killGraceMs, signal: d.signal });
    heartbeat.setState("running");
    d.logger?.info({ jobId: job.jobId, payloadPid: current.child.pid, ...(current.localAccount !== undefined && { localAccount: current.localAccount }) }, "payload started");
    await send(stateReport(ctx, "running"));

    // Proxies are short-lived (RFC 3820 s. 4), so the pilot renews the user's proxy during long payloads.
    const scheduleRenewal = (): void => {
      // Never more often than once a second, even when the cache hands back a proxy no younger.
      const inMs = Math.max(MIN_RENEW_INTERVAL_MS, proxy.notAfter - d.renewMarginMs - d.heartbeats.now());
      renewTimer = setTimeout(() => {
        void (async () => {
          try {
            proxy = await d.credentials.renew(credReq);
            await current.replaceProxy(proxy.proxyPem);
            d.logger?.info({ jobId: job.jobId, notAfter: proxy.notAfter }, "user proxy renewed");
            scheduleRenewal();
          } catch (e) {
            d.logger?.warn({ jobId: job.jobId, err: (e as Error).message }, "proxy renewal failed; the payload keeps the proxy it has");
          }
        })();
      }, Math.min(inMs, 2_000_000_000));
    };
    scheduleRenewal();

    const outcome = await supervised.done;
    d.logger?.info({ jobId: job.jobId, exitCode: outcome.exitCode, signal: outcome.signal ?? undefined, wallSec: outcome.wallSec, cpuSec: Math.round((outcome.userCpuSec + outcome.sysCpuSec) * 100) / 100, maxRssKb: outcome.maxRssKb }, "payload ended");
    // The payload has ended: from now on the job is `holding` and lease expiry can no longer requeue
    // it (a finished payload must never run twice); the lease is still renewed until the report is out.
    heartbeat.setState("holding");
    clearTimeout(renewTimer);
    // Credentials go as soon as the payload ends, before stage-out: nothing after this needs them.
    await current.cleanup();
    await send(accountingRecord(ctx, outcome));
    if (current.localAccount !== undefined) {
      await send(
        auditRecord({
          event: "identity-switch",
          dn: body.submitterDn,
          localAccount: current.localAccount,
          pilotId: d.pilotId,
          jobId: job.jobId,
          site: job.site,
          node: d.node,
          startedAt: outcome.startedAt,
          endedAt: outcome.endedAt,
          detail: `exit ${outcome.exitCode}${outcome.signal ? ` signal ${outcome.signal}` : ""}`,
        }),
      );
    }
    const pf = payloadFailure(outcome);
    if (pf) throw new WmsError(pf.code, pf.message);
    outputs = await stageOut({ jobDir, storagePath: d.site.storagePath, outputDataset: job.outputDataset, jobId: job.jobId, requireOutputs: true });
    d.logger?.info({ jobId: job.jobId, outputs: outputs.length }, "outputs staged out");
  } catch (e) {
    failure = asWmsError(e);
  } finally {
    clearTimeout(renewTimer);
    // Whatever ended the job here, its work on this node is over: holding until the report is out.
    heartbeat.setState("holding");
    // Read before the job dir goes: what the payload last wrote is what an operator needs.
    tails = payloadTails(jobDir);
    try {
      await launched?.cleanup();
      if (!d.keepJobDirs) await rm(jobDir, { recursive: true, force: true });
      else await rm(proxyPathOf(jobDir), { force: true });
    } catch (e) {
      failure ??= new WmsError(ERR.PILOT_CLEANUP_FAILED, `${jobDir}: ${(e as Error).message}`);
    }
    credReq.oneTimeKey = "";
  }

  try {
    if (failure) d.logger?.warn({ jobId: job.jobId, code: failure.code }, failure.message);
    if (tails && d.attemptLines) {
      await send(logReport({ job, pilotId: d.pilotId, site: d.site.name, reportId: `log-${randomUUID()}`, tails, lines: d.attemptLines, errorCode: failure?.code }));
    }
    if (failure) {
      await send(stateReport(ctx, "failed", { errorCode: failure.code, message: failure.message }));
      await send(errorReport({ pilotId: d.pilotId, site: d.site.name, code: failure.code, message: failure.message, jobId: job.jobId, taskId: job.taskId }));
      return { status: "failed", jobId: job.jobId, code: failure.code, message: failure.message };
    }
    await send(stateReport(ctx, "finished", { outputs }));
    return { status: "finished", jobId: job.jobId, outputs };
  } finally {
    // The lease lives until the final report is confirmed by the broker or spooled (send() returns
    // then) and the job store has heard `holding`; a few beats at most, so a matchmaker outage
    // cannot hold the pilot here.
    await Promise.race([heartbeat.holdingAcknowledged(), sleep(3 * d.heartbeatMs)]);
    heartbeat.stop();
    unbind?.();
  }
}

/**
 * A first envelope refused for its time only (it verifies in full at the time it was issued): the
 * node's clock is off by more than the skew an envelope allows, and every envelope would be
 * refused. Said as PILOT_CLOCK_OFF with the offset, so the pilot exits instead of taking jobs it
 * cannot run; the claim, never confirmed, goes back to its queue with its attempt unchanged. Only
 * before the pilot has the matchmaker's clock: after that it checks envelopes on that clock.
 */
function clockRefusal(envelope: MatchEnvelope, w: WmsError, d: JobRunDeps): WmsError | undefined {
  if ((w.code !== ERR.SEC_ENVELOPE_EXPIRED && w.code !== ERR.SEC_CERT_EXPIRED) || d.heartbeats.clockKnown) return undefined;
  const issuedAt = refusedOnlyByClock(envelope, { trust: d.trust, pilotId: d.pilotId });
  if (issuedAt === undefined) return undefined;
  const offSec = Math.round((Date.now() - issuedAt) / 1000);
  return new WmsError(
    ERR.PILOT_CLOCK_OFF,
    `this node's clock is ${Math.abs(offSec)} s ${offSec > 0 ? "ahead of" : "behind"} the matchmaker's (its envelope was refused: ${w.message}); set the node's time (NTP) and start the pilot again`,
  );
}

function confirmedOrStopped(confirmed: Promise<boolean>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return confirmed;
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const stopped = (): void => resolve(false);
    signal.addEventListener("abort", stopped, { once: true });
    void confirmed.then((ok) => {
      signal.removeEventListener("abort", stopped);
      resolve(ok);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
