// The pilot's life: probe, advertise, run what it is given, ask again; exit when adverts keep
// coming back empty, the slot's walltime runs short, or it is told to stop. Callable in-process
// (the demo, the tests) and from `wms pilot`.
import { randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, rm } from "node:fs/promises";
import { claimPilotDir, sweepDeadPilots } from "./stale-pilot-sweep.ts";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import { ADVERT_ANSWER_WAIT_MS, ERR, MachineAdvert, MatchReply, SCHEMA_VERSION, type Site, type WireNames } from "../../schemas/index.ts";
import { generatePilotKeyPair, PILOT_TOKEN_REFUSALS, SignerCache, type TrustStore } from "../../security/index.ts";
import type { Logger } from "../../platform/logger.ts";
import { runMatchedJob, type JobResult } from "./job-run.ts";
import { PilotHeartbeats } from "./job-heartbeat.ts";
import { AttemptReportSigner } from "./attempt-report-signer.ts";
import { buildMachineAd } from "./machine-ad.ts";
import { probeNode, probeWalltime } from "./node-probe.ts";
import type { PayloadLauncher } from "./payload-launcher.ts";
import { attemptLog } from "./attempt-log.ts";
import type { CensusSink, CredentialSource, PilotCensusState, ReportSink } from "./pilot-ports.ts";
import { walltimeLeftSec } from "./walltime-left.ts";

export interface PilotOptions {
  readonly nc: NatsConnection;
  readonly names: WireNames;
  readonly reports: ReportSink;
  readonly credentials: CredentialSource;
  /** The CA bundle the matchmaker's envelopes must chain to. */
  readonly trust: TrustStore;
  readonly site: Site;
  /** Pilot token minted by the factory; the matchmaker spends one use per advert that gets a job. */
  readonly token: string;
  /** Base work dir; the pilot makes `<workdir>/<pilotId>/` under it. */
  readonly workdir: string;
  readonly pilotId?: string;
  /** `--walltime`: seconds this pilot may live; else the batch system's limit (walltime-left.ts). */
  readonly walltimeSec?: number;
  /** The pilot process's environment: read for the batch limits and PATH, never passed to payloads. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Exit after this many adverts in a row found nothing (default 3). */
  readonly maxEmpty?: number;
  /** Cap on the matchmaker's back-off hint, for tests and the demo. */
  readonly maxBackoffSec?: number;
  /**
   * How long adverts may go unanswered (no matchmaker up, NATS away) before the pilot gives up
   * (default 300 s). An unanswered advert is not an empty one: only a matchmaker's `nomatch` says
   * there is no work, so a fleet-wide matchmaker restart does not drain the pilots.
   */
  readonly maxUnansweredSec?: number;
  /** Stop asking when less than this much walltime is left (default 60 s). */
  readonly minWalltimeSec?: number;
  /** Stop after this many jobs (default: no limit). */
  readonly maxJobs?: number;
  readonly heartbeatSec?: number;
  /**
   * The deployment's lease (`jobs.leaseSec`): a job whose lease the pilot cannot renew (its NATS
   * connection down, renewals refused) is stopped before it lapses, since the job then goes to another
   * pilot (job-heartbeat.ts). Unset: never stopped for that.
   */
  readonly leaseSec?: number;
  readonly memoryPollMs?: number;
  readonly killGraceMs?: number;
  readonly renewMarginSec?: number;
  /** How long an advert waits for its answer (default ADVERT_ANSWER_WAIT_MS, which the matchmaker assumes). */
  readonly requestTimeoutMs?: number;
  /** A pilot certificate and key, kept in the pilot's private dir (mode 0700). */
  readonly pilotCert?: { readonly certPath: string; readonly keyPath: string };
  /** site-authz's identity switch as a launcher; required where the site's policy is `required`. */
  readonly switchLauncher?: PayloadLauncher;
  readonly census?: CensusSink;
  readonly keepJobDirs?: boolean;
  /** Aborting (SIGTERM) kills a running payload, cleans up, reports and ends the pilot. */
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

export type PilotExitReason = "empty" | "walltime" | "stopped" | "token-refused" | "advert-refused" | "clock-off" | "max-jobs" | "no-matchmaker";

export interface PilotSummary {
  readonly pilotId: string;
  readonly site: string;
  readonly jobsDone: number;
  readonly jobsFailed: number;
  readonly envelopesRejected: number;
  readonly emptyAdverts: number;
  readonly adverts: number;
  readonly exitReason: PilotExitReason;
  /** With token-refused / advert-refused: the matchmaker's error, which asking again cannot change; with clock-off: PILOT_CLOCK_OFF and the offset. */
  readonly refusal?: { readonly code: number; readonly message: string };
  readonly results: readonly JobResult[];
}

const encoder = new TextEncoder();

function defaultPilotId(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9.-]/g, "-").slice(0, 40) || "node";
  return `pilot-${host}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** Walltime a pilot keeps in hand when it waits for the node's spool: it leaves before the batch system kills it. */
const SPOOL_LEAVE_MARGIN_SEC = 30;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/** The pilot's own dir: `secrets/` (0700) holds its certificate where payloads run switched, `jobs/` the job dirs. */
async function preparePilotDir(o: PilotOptions, pilotId: string): Promise<{ pilotDir: string; secretsDir: string; jobsDir: string }> {
  const pilotDir = path.join(o.workdir, pilotId);
  const secrets = path.join(pilotDir, "secrets");
  const jobsDir = path.join(pilotDir, "jobs");
  // 0711: a switched payload may pass through to its own job dir, but cannot list the pilot's.
  await mkdir(pilotDir, { recursive: true, mode: 0o711 });
  await chmod(pilotDir, 0o711);
  await mkdir(secrets, { mode: 0o700 });
  await mkdir(jobsDir, { mode: 0o711 });
  await chmod(jobsDir, 0o711);
  // The token stays in memory only, never on disk: at a site without identity switching the payload
  // runs as the pilot's own user and could read any file the pilot can. For the same reason the
  // certificate and key are copied here only where a switch separates the payload from them
  // (site-authz checks this folder before it switches); elsewhere they are in memory already.
  if (o.pilotCert && o.site.identitySwitch !== "off") {
    // Everything in secrets/ is 0600, certificate included: site-authz refuses to switch otherwise.
    for (const [src, name] of [[o.pilotCert.certPath, "pilot.cert.pem"], [o.pilotCert.keyPath, "pilot.key.pem"]] as const) {
      await copyFile(src, path.join(secrets, name));
      await chmod(path.join(secrets, name), 0o600);
    }
  }
  return { pilotDir, secretsDir: secrets, jobsDir };
}

export async function runPilot(options: PilotOptions): Promise<PilotSummary> {
  // The work dir is made absolute once, here: every path the payload is given (WMS_OUTPUT_DIR,
  // WMS_INPUTS, X509_USER_PROXY, HOME) derives from it, and the payload runs with its job folder as
  // cwd, where a relative path would point somewhere else.
  const o: PilotOptions = { ...options, workdir: path.resolve(options.workdir) };
  const startedAtMs = Date.now();
  const pilotId = o.pilotId ?? defaultPilotId();
  const env = o.env ?? {};
  const maxEmpty = o.maxEmpty ?? 3;
  const maxUnansweredMs = (o.maxUnansweredSec ?? 300) * 1000;
  let unansweredSince: number | undefined;
  const minWalltimeSec = o.minWalltimeSec ?? 60;
  const log = o.logger?.child({ pilotId });
  const deadline = probeWalltime(o.walltimeSec, env, startedAtMs);
  const keys = generatePilotKeyPair();
  // Reports go out signed with this process's report key, advertised with every advert. A caller
  // that made the signer itself (to sign its identity-switch audits too) passes it as `reports`.
  const reports = o.reports instanceof AttemptReportSigner ? o.reports : new AttemptReportSigner(o.reports);
  // The pilot's own replay memory: a nonce is kept until its envelope expires, after which the
  // envelope is refused as expired anyway.
  const seenNonces = new Map<string, number>();
  // The matchmaker's signer pair, once verified, need not come again with every envelope.
  const signers = new SignerCache();
  const isNonceNew = (nonce: string, expiresAt: number): boolean => {
    const now = Date.now();
    for (const [n, exp] of seenNonces) if (exp < now) seenNonces.delete(n);
    if (seenNonces.has(nonce)) return false;
    seenNonces.set(nonce, expiresAt);
    return true;
  };

  let jobsDone = 0;
  let jobsFailed = 0;
  let envelopesRejected = 0;
  let emptyInRow = 0;
  let emptyAdverts = 0;
  let adverts = 0;
  const results: JobResult[] = [];
  // A report only in memory dies with the process: while one is, the pilot takes no new job (a new
  // job's reports would queue behind it), and it does not exit until the publisher got it out.
  const held = (): number => o.reports.heldCount?.() ?? 0;
  const census = (state: PilotCensusState): void => {
    try {
      o.census?.({ pilotId, site: o.site.name, state, jobsDone, jobsFailed, emptyAdverts, heldReports: held() });
    } catch (e) {
      log?.warn({ err: (e as Error).message }, "census not published");
    }
  };

  // The census says how many (`heldReports`), so the factory sees why the pilot waits.
  const waitReportsOut = async (why: string, state: PilotCensusState): Promise<void> => {
    if (held() === 0) return;
    log?.warn({ code: ERR.REPORT_SPOOLED, held: held() }, `reports held in memory (RabbitMQ unreachable, spool unwritable): ${why} until they are confirmed`);
    let told = -1;
    while (held() > 0) {
      if (held() !== told) census(state);
      told = held();
      await sleep(200);
    }
    census(state);
    log?.info("held reports confirmed by RabbitMQ");
  };

  // A report in the node's spool reaches RabbitMQ only while some pilot runs on the node: the last
  // one to leave would strand it, and its job would wait in holding until the holding timeout and
  // then fail although it finished. So before leaving the pilot stays, taking no job, until the
  // folder is empty (its own reports and any a dead or departed pilot left), unless it is stopped or
  // its walltime is nearly up; then the next pilot on the node sends them when it starts.
  const waitSpoolOut = async (): Promise<void> => {
    const spooled = async (): Promise<number> => (o.reports.spooledOnNode ? await o.reports.spooledOnNode().catch(() => 0) : 0);
    let n = await spooled();
    if (n === 0) return;
    log?.warn({ code: ERR.REPORT_SPOOLED, spooled: n }, "reports in this node's spool are not confirmed by RabbitMQ yet: not exiting until they are out");
    census("idle");
    while (n > 0 && !o.signal?.aborted && walltimeLeftSec(deadline, Date.now()) > SPOOL_LEAVE_MARGIN_SEC) {
      await sleep(1000, o.signal);
      n = await spooled();
    }
    if (n === 0) log?.info("this node's spool is empty: every report reached RabbitMQ");
    else log?.warn({ code: ERR.REPORT_SPOOLED, spooled: n }, "leaving reports in this node's spool for the next pilot here");
  };

  const heartbeatMs = (o.heartbeatSec ?? 60) * 1000;
  const killGraceMs = o.killGraceMs ?? 5000;
  const heartbeats = new PilotHeartbeats({
    nc: o.nc,
    names: o.names,
    pilotId,
    site: o.site.name,
    intervalMs: heartbeatMs,
    ...(o.leaseSec !== undefined && { lease: { ms: o.leaseSec * 1000, killGraceMs } }),
    logger: log,
  });
  census("starting");
  const { pilotDir, secretsDir, jobsDir } = await preparePilotDir(o, pilotId);
  claimPilotDir(pilotDir);
  for (const s of sweepDeadPilots(o.workdir, pilotDir)) log?.warn({ pilotDir: s.pilotDir, killed: s.killed }, "cleaned up after a dead pilot: killed its leftover processes, deleted its credentials");
  log?.info({ site: o.site.name, walltimeSource: deadline.source, pilotDir }, "pilot started");
  let exitReason: PilotExitReason = "empty";
  let refusal: PilotSummary["refusal"];
  try {
    while (true) {
      if (o.signal?.aborted) {
        exitReason = "stopped";
        break;
      }
      if (o.maxJobs !== undefined && jobsDone + jobsFailed >= o.maxJobs) {
        exitReason = "max-jobs";
        break;
      }
      const left = walltimeLeftSec(deadline, Date.now());
      if (left < minWalltimeSec) {
        exitReason = "walltime";
        log?.info({ left }, "walltime short; no more jobs");
        break;
      }
      if (held() > 0) {
        await waitReportsOut("no new job", "running");
        continue;
      }
      census("idle");
      const facts = probeNode({ pilotId, site: o.site.name, softwareTags: o.site.softwareTags, workdir: o.workdir, deadline });
      const advert: MachineAdvert = {
        schemaVersion: SCHEMA_VERSION,
        pilotId,
        site: o.site.name,
        token: o.token,
        classad: buildMachineAd(facts),
        publicKey: keys.publicKeyPem,
        reportKey: reports.publicKey,
        sentAt: Date.now(),
        ...(signers.current !== undefined && { knownSigner: signers.current }),
      };
      adverts++;
      let backoffSec = 1;
      let reply: MatchReply | undefined;
      try {
        const msg = await o.nc.request(o.names.advertFor(o.site.name), encoder.encode(JSON.stringify(advert)), { timeout: o.requestTimeoutMs ?? ADVERT_ANSWER_WAIT_MS });
        reply = MatchReply.parseJson(msg.data);
      } catch (e) {
        log?.warn({ err: (e as Error).message }, "advert got no usable answer");
      }
      if (reply === undefined) {
        unansweredSince ??= Date.now();
        if (Date.now() - unansweredSince >= maxUnansweredMs) {
          exitReason = "no-matchmaker";
          log?.warn({ unansweredSec: Math.round((Date.now() - unansweredSince) / 1000) }, "no matchmaker answered; giving up");
          break;
        }
        await sleep(Math.max(0.1, Math.min(1, o.maxBackoffSec ?? 1)) * 1000, o.signal);
        continue;
      }
      unansweredSince = undefined;
      if (reply?.status === "match") {
        emptyInRow = 0;
        census("running");
        const attempt = attemptLog(log, {});
        // The slot's end preempts the job as SIGTERM does: the batch system would kill us all at the
        // limit, so the payload is stopped just before it and the job requeued as PILOT_PREEMPTED.
        const jobStop = new AbortController();
        const stopJob = (): void => jobStop.abort();
        let slotEnded = false;
        o.signal?.addEventListener("abort", stopJob);
        // Early by the kill grace and a second, so the payload is gone before the batch system's kill.
        const marginMs = killGraceMs + 1000;
        const slotEnd = setTimeout(
          () => {
            slotEnded = true;
            stopJob();
          },
          Math.min(Math.max(0, walltimeLeftSec(deadline, Date.now()) * 1000 - marginMs), 2_000_000_000),
        );
        const result = await runMatchedJob(reply.envelope, {
          nc: o.nc,
          names: o.names,
          reports,
          credentials: o.credentials,
          trust: o.trust,
          site: o.site,
          pilotId,
          node: facts.machine,
          privateKeyPem: keys.privateKeyPem,
          isNonceNew,
          signers,
          jobsDir,
          secretsDir,
          payloadPath: env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
          switchLauncher: o.switchLauncher,
          heartbeats,
          heartbeatMs,
          pollMs: o.memoryPollMs ?? 1000,
          killGraceMs,
          renewMarginMs: (o.renewMarginSec ?? 120) * 1000,
          keepJobDirs: o.keepJobDirs ?? false,
          signal: jobStop.signal,
          logger: attempt.logger,
          attemptLines: attempt.lines,
        }).finally(() => {
          clearTimeout(slotEnd);
          o.signal?.removeEventListener("abort", stopJob);
        });
        results.push(result);
        if (slotEnded) {
          exitReason = "walltime";
          log?.info({ jobId: result.status === "rejected" ? undefined : result.jobId }, "slot walltime reached; job preempted, pilot exits");
        }
        if (result.status === "finished") jobsDone++;
        else if (result.status === "failed") jobsFailed++;
        else envelopesRejected++;
        if (slotEnded) break;
        // The node's clock is too far off to check any envelope: every job taken would be refused.
        // The pilot leaves with the code (its claim is given back, attempt unchanged) rather than
        // advertise again and hold each job it is handed for a confirmation that never comes.
        if (result.status === "rejected" && result.code === ERR.PILOT_CLOCK_OFF) {
          exitReason = "clock-off";
          refusal = { code: result.code, message: result.message ?? "" };
          log?.error({ code: result.code }, `clock-off: ${refusal.message}`);
          break;
        }
        // A refused envelope ran nothing: it counts like an empty advert, so a pilot fed only forgeries still exits.
        if (result.status !== "rejected") continue;
      } else if (reply?.status === "nomatch") {
        backoffSec = reply.backoffSec;
      } else if (reply?.status === "error") {
        // The same token and the same malformed advert would be refused again: stop now, and say why.
        if (PILOT_TOKEN_REFUSALS.has(reply.code) || reply.code === ERR.BAD_INPUT) {
          exitReason = PILOT_TOKEN_REFUSALS.has(reply.code) ? "token-refused" : "advert-refused";
          refusal = { code: reply.code, message: reply.message };
          log?.warn({ code: reply.code }, `${exitReason}: ${reply.message}`);
          break;
        }
        log?.warn({ code: reply.code }, `advert refused: ${reply.message}`);
      }
      emptyInRow++;
      emptyAdverts++;
      if (emptyInRow >= maxEmpty) {
        exitReason = "empty";
        break;
      }
      await sleep(Math.min(backoffSec, o.maxBackoffSec ?? Number.POSITIVE_INFINITY) * 1000, o.signal);
    }
    await waitReportsOut("not exiting", "running");
    if (exitReason !== "stopped" && exitReason !== "walltime") await waitSpoolOut();
  } finally {
    census("exited");
    // The token and any pilot certificate leave with the pilot.
    await rm(path.join(pilotDir, "secrets"), { recursive: true, force: true });
    if (!o.keepJobDirs) await rm(pilotDir, { recursive: true, force: true });
  }
  const summary: PilotSummary = { pilotId, site: o.site.name, jobsDone, jobsFailed, envelopesRejected, emptyAdverts, adverts, exitReason, ...(refusal && { refusal }), results };
  log?.info({ jobsDone, jobsFailed, emptyAdverts, exitReason }, "pilot exited");
  return summary;
}
