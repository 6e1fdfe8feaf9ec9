// The matchmaker service: answers pilot adverts with one signed job, and heartbeats with a lock
// extension. Stateless apart from Redis and NATS, so instances in one queue group share the load.
import type { NatsConnection, Msg, Subscription } from "nats";
import type { RedisClient } from "../platform/redis-client.ts";
import { jsonBytes } from "../platform/json-bytes.ts";
import { isInboxReply } from "../platform/request-reply-service.ts";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Logger } from "pino";
import {
  ADVERT_ANSWER_WAIT_MS,
  toWmsError,
  ERR,
  type EnvelopeBody,
  Heartbeat,
  HeartbeatBatch,
  type HeartbeatBatchReply,
  type HeartbeatReply,
  isWmsError,
  MachineAdvert,
  type MatchReply,
  SCHEMA_VERSION,
  WmsError,
  type MatchEnvelope,
  type Site,
  type WireNames,
  type WmsConfig,
} from "../schemas/index.ts";
import {
  refusalAuditBudget,
  AuditLog,
  checkPilotPublicKey,
  encryptKeysToPilot,
  HEARTBEAT_SEAL_PURPOSE,
  heartbeatKeyFor,
  heartbeatMacHolds,
  JOB_SPEC_SEAL_PURPOSE,
  namingSigner,
  ONE_TIME_KEY_SEAL_PURPOSE,
  REPORT_KEY_SEAL_PURPOSE,
  mintOneTimeKey,
  openSealer,
  openSealVerifier,
  PILOT_TOKEN_REFUSALS,
  PilotTokenStore,
  type PilotTokenUse,
  randomHex,
  SealKeyFile,
  sealKeysFile,
  SealVerifier,
  ServiceSealer,
  signerRef,
  verifyJobSpecSeal,
  type EnvelopeWithBodyBytes,
  type SealKeyring,
} from "../security/index.ts";
import { EvalBudget, EvalBudgetExceeded, type ClassAd } from "./classad/index.ts";
import { DispatchQueues, LEASED_STATES, type ClaimedJob } from "../jobs/index.ts";
import { AutoclusterIndexCache } from "./autocluster-index.ts";
import type { AutoclusterKey } from "../jobs/index.ts";
import { MatchCache } from "./match-cache.ts";
import { FairShareUsage } from "./match-fair-share.ts";
import { orderCandidates, type RankedCandidate } from "./match-ranking.ts";
import { JobStore, Reconciler } from "../jobs/index.ts";
import { answerHeartbeats, batchOfOne, checkSubjectSite, singleReply, subjectSiteOf, type HeartbeatRefusal, type LeaseRenewal, type LeaseStatus } from "./lease-heartbeats.ts";
import { authorize } from "../site-authz/index.ts";
import { AdvertAdmission } from "./advert-admission.ts";

/** What signs envelopes: security's `createBatchEnvelopeSigner(...)` (or `createEnvelopeSigner`, one signature each). */
export interface EnvelopeSigner {
  sign(body: EnvelopeBody): MatchEnvelope | Promise<MatchEnvelope>;
  /**
   * The batch signer's: the body kept as the bytes signed, written so into the reply, and the
   * signer pair named when the pilot says it holds it. Used when present.
   */
  signToBytes?(body: EnvelopeBody, knownSigner: string | undefined): Promise<EnvelopeWithBodyBytes>;
}

/** A reply to an advert as the matchmaker writes it: a match's envelope may carry its body as bytes (`EnvelopeWithBodyBytes`). */
type AdvertAnswer = MatchReply | { readonly schemaVersion: typeof SCHEMA_VERSION; readonly status: "match"; readonly envelope: EnvelopeWithBodyBytes };

export interface MatchmakerOptions {
  readonly nc: NatsConnection;
  /** For the JobStore, tokens, one-time keys and usage (auto-pipelined). */
  readonly redis: RedisClient;
  readonly names: WireNames;
  readonly config: WmsConfig;
  readonly signer: EnvelopeSigner;
  readonly logger?: Logger;
  /** Metrics land here (the monitor exposes them); a private registry when absent. */
  readonly registry?: Registry;
  /** Overrides config.matchmaker lock/stalled timings (tests use short ones). */
  readonly lockMs?: number;
  readonly stalledIntervalMs?: number;
  /**
   * Site definitions: a site's authorization chain (ban/allow lists, VO, walltime) is applied to
   * each autocluster's owner before its jobs are offered there. Absent: no site-level refusal.
   */
  readonly sites?: readonly Site[];
  /**
   * The seal keys: `jobSpec` checks the intake's seal on every claimed spec, `oneTimeKey` seals the
   * one-time keys it mints, `reportKey` seals the report key each claim binds, `heartbeat` makes
   * and checks each attempt's heartbeat key. Default: the key files config.pki names (seal-keys.ts).
   */
  readonly sealKeys?: { readonly jobSpec: SealKeyring; readonly oneTimeKey: SealKeyring; readonly reportKey?: SealKeyring; readonly heartbeat?: SealKeyring };
}

export interface MatchmakerHandle {
  readonly registry: Registry;
  readonly dispatch: DispatchQueues;
  stop(): Promise<void>;
}

interface Metrics {
  matches: Counter;
  nomatches: Counter;
  errors: Counter<"code">;
  heartbeats: Counter<"result">;
  heartbeatRefusals: Counter<"code">;
  stalled: Counter<"outcome">;
  reconciled: Counter<"kind">;
  refusedSpecs: Counter;
  tokenRefusals: Counter<"code">;
  staleAdverts: Counter;
  lateClaims: Counter;
  latency: Histogram;
}

/**
 * The advert admissions of the matchmakers that share a registry (several instances in one
 * process share one set of series): the gauges read them when scraped, so answering an advert
 * updates no metric object.
 */
const admissionsOf = new WeakMap<Registry, Set<AdvertAdmission<Msg>>>();

function admissionGauges(registry: Registry): Set<AdvertAdmission<Msg>> {
  let set = admissionsOf.get(registry);
  if (set) return set;
  const all = (set = new Set());
  admissionsOf.set(registry, all);
  const registers = [registry];
  const sum = (f: (a: AdvertAdmission<Msg>) => number): number => [...all].reduce((n, a) => n + f(a), 0);
  new Gauge({
    name: "wms_matchmaker_adverts_in_flight",
    help: "Adverts being answered now (at most matchmaker.maxAdvertsInFlight per matchmaker)",
    registers,
    collect() {
      this.set(sum((a) => a.inFlight));
    },
  });
  new Gauge({
    name: "wms_matchmaker_adverts_waiting",
    help: "Adverts received and waiting for one of the matchmaker.maxAdvertsInFlight places",
    registers,
    collect() {
      this.set(sum((a) => a.waiting));
    },
  });
  new Gauge({
    name: "wms_matchmaker_adverts_in_flight_peak",
    help: "The most adverts one matchmaker answered at once since it started",
    registers,
    collect() {
      this.set([...all].reduce((n, a) => Math.max(n, a.peak), 0));
    },
  });
  return all;
}

function metrics(registry: Registry): Metrics {
  const registers = [registry];
  const existing = registry.getSingleMetric("wms_matchmaker_matches_total");
  if (existing) {
    // Several instances in one process share one set of series.
    return {
      matches: existing as Counter,
      nomatches: registry.getSingleMetric("wms_matchmaker_nomatches_total") as Counter,
      errors: registry.getSingleMetric("wms_matchmaker_errors_total") as Counter<"code">,
      heartbeats: registry.getSingleMetric("wms_matchmaker_heartbeats_total") as Counter<"result">,
      heartbeatRefusals: registry.getSingleMetric("wms_matchmaker_heartbeat_refusals_total") as Counter<"code">,
      stalled: registry.getSingleMetric("wms_matchmaker_stalled_jobs_total") as Counter<"outcome">,
      reconciled: registry.getSingleMetric("wms_jobs_reconciled_total") as Counter<"kind">,
      refusedSpecs: registry.getSingleMetric("wms_matchmaker_unsealed_specs_total") as Counter,
      tokenRefusals: registry.getSingleMetric("wms_matchmaker_token_refusals_total") as Counter<"code">,
      staleAdverts: registry.getSingleMetric("wms_matchmaker_stale_adverts_total") as Counter,
      lateClaims: registry.getSingleMetric("wms_matchmaker_late_claims_given_back_total") as Counter,
      latency: registry.getSingleMetric("wms_matchmaker_advert_seconds") as Histogram,
    };
  }
  return {
    matches: new Counter({ name: "wms_matchmaker_matches_total", help: "Adverts answered with a job", registers }),
    nomatches: new Counter({ name: "wms_matchmaker_nomatches_total", help: "Adverts answered with no job", registers }),
    errors: new Counter({ name: "wms_matchmaker_errors_total", help: "Adverts refused, by error code", labelNames: ["code"], registers }),
    heartbeats: new Counter({ name: "wms_matchmaker_heartbeats_total", help: "Heartbeats, by result (ok, cancelled, lost, stale, forged, bad)", labelNames: ["result"], registers }),
    heartbeatRefusals: new Counter({
      name: "wms_matchmaker_heartbeat_refusals_total",
      help: "Jobs of heartbeats refused before their lease was renewed, by error code (1724 not made with the attempt's heartbeat key, 1720 outside the time window)",
      labelNames: ["code"],
      registers,
    }),
    stalled: new Counter({ name: "wms_matchmaker_stalled_jobs_total", help: "Jobs whose pilot went silent, by outcome", labelNames: ["outcome"], registers }),
    reconciled: new Counter({ name: "wms_jobs_reconciled_total", help: "Counters and queue entries the reconciliation repaired, by kind", labelNames: ["kind"], registers }),
    refusedSpecs: new Counter({ name: "wms_matchmaker_unsealed_specs_total", help: "Claimed job specs refused because the intake's seal does not verify", registers }),
    tokenRefusals: new Counter({ name: "wms_matchmaker_token_refusals_total", help: "Adverts refused for their pilot token, by error code", labelNames: ["code"], registers }),
    staleAdverts: new Counter({
      name: "wms_matchmaker_stale_adverts_total",
      help: "Adverts not answered because they waited for a place longer than a pilot waits for its answer (nothing claimed for them)",
      registers,
    }),
    lateClaims: new Counter({
      name: "wms_matchmaker_late_claims_given_back_total",
      help: "Claims given back at once, attempt unchanged, because they came back from Redis after their pilot had stopped waiting for the reply (a Redis outage or stall)",
      registers,
    }),
    latency: new Histogram({
      name: "wms_matchmaker_advert_seconds",
      help: "Advert to reply",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    }),
  };
}

/**
 * An advert that waited this long in the matchmaker is dropped unanswered: its pilot stops waiting
 * after ADVERT_ANSWER_WAIT_MS from its send, and the advert also spent time in NATS and in the
 * socket before it was counted here, and the answer still has to be made and travel back. The
 * advert's own `sentAt` is not used: it is the pilot's clock, which may be off by minutes.
 */
const STALE_ADVERT_MS = ADVERT_ANSWER_WAIT_MS - 2000;

export async function startMatchmaker(o: MatchmakerOptions): Promise<MatchmakerHandle> {
  const { nc, redis, names, config, signer, logger } = o;
  const mm = config.matchmaker;
  const lockMs = o.lockMs ?? config.jobs.leaseSec * 1000;
  const registry = o.registry ?? new Registry();
  const m = metrics(registry);
  const dispatch = new DispatchQueues({
    redis,
    names,
    lockMs,
    stalledIntervalMs: o.stalledIntervalMs ?? config.jobs.leaseCheckSec * 1000,
    holdingTimeoutMs: config.jobs.holdingTimeoutSec * 1000,
    onError: (err, context) => logger?.warn({ err: err.message, context }, "dispatch queue error"),
    // The agents believe a claim's report key only with this seal (security/report-key-seal.ts).
    reportKeySealer: o.sealKeys?.reportKey ? new ServiceSealer(o.sealKeys.reportKey, REPORT_KEY_SEAL_PURPOSE) : openSealer(config.pki, REPORT_KEY_SEAL_PURPOSE),
    // On a Redis Cluster, a claim is on a replica before the job leaves (jobs/dispatch-queues.ts).
    claimReplicaWaitMs: config.redis.cluster?.claimReplicaWaitMs,
  });
  const jobs = new JobStore(redis, names);
  const tokens = new PilotTokenStore(redis, names);
  // Only holders of the one-time-key seal key mint keys the credential cache accepts; only specs
  // sealed with the job-spec key (the intake's) are signed.
  const keySealer = o.sealKeys ? new ServiceSealer(o.sealKeys.oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE) : openSealer(config.pki, ONE_TIME_KEY_SEAL_PURPOSE);
  const specSeals = o.sealKeys ? new SealVerifier(o.sealKeys.jobSpec, JOB_SPEC_SEAL_PURPOSE) : openSealVerifier(config.pki, JOB_SPEC_SEAL_PURPOSE);
  // Each attempt's heartbeat key comes from this matchmakers-only key, and so does its check.
  const heartbeatKeys = o.sealKeys?.heartbeat ?? SealKeyFile.open(sealKeysFile(config.pki, HEARTBEAT_SEAL_PURPOSE));
  const audit = new AuditLog(redis, names);
  const index = new AutoclusterIndexCache(dispatch);
  const cache = new MatchCache();
  const usage = new FairShareUsage(redis, names);

  await dispatch.startStalledChecks((jobId, outcome) => {
    m.stalled.inc({ outcome });
    if (outcome !== "skipped") logger?.info({ jobId, outcome }, "job of a silent pilot recovered");
  });

  // One matchmaker at a time runs it (two would apply the same repair twice); the holder keeps the
  // turn while it renews, so its memory of tasks that are over stays useful. A stop aborts a run
  // between two batches rather than waiting for a whole pass over the records. Every tick renews
  // the turn, also while a pass runs (one longer than the turn would otherwise find a second pass
  // beside it: this one stops if the turn was lost) and while the holder waits out its duty cycle
  // (Reconciler.nextPassAt: a pass takes at most 1/RECONCILE_DUTY_FACTOR of its time).
  const reconciler = new Reconciler(jobs, dispatch);
  const stopReconciling = new AbortController();
  let reconciling: Promise<void> | undefined;
  let turnLost: AbortController | undefined;
  const reconcileMs = config.jobs.reconcileSec * 1000;
  const reconcileOnce = async (): Promise<void> => {
    if (!(await dispatch.leadReconciliation(3 * reconcileMs))) return;
    if (Date.now() < reconciler.nextPassAt(reconcileMs)) return;
    turnLost = new AbortController();
    const s = await reconciler.run({ signal: AbortSignal.any([stopReconciling.signal, turnLost.signal]) });
    for (const [kind, n] of Object.entries(s.counts)) if (n > 0) m.reconciled.inc({ kind }, n);
    const pass = { durationMs: s.durationMs, jobsScanned: s.jobsScanned, entriesScanned: s.entriesScanned, nextInSec: Math.round((reconciler.nextPassAt(reconcileMs) - Date.now()) / 1000) };
    if (s.repairs.length > 0) logger?.warn({ repairs: s.repairs.slice(0, 50), counts: s.counts, ...pass }, "reconciliation repaired drift from the job records");
    else if (pass.nextInSec > config.jobs.reconcileSec) logger?.info(pass, "reconciliation pass took over its share of time: the next one waits longer");
    else logger?.debug(pass, "reconciliation pass");
  };
  const reconcileTimer =
    reconcileMs > 0
      ? setInterval(() => {
          if (reconciling) {
            const lost = turnLost;
            dispatch
              .leadReconciliation(3 * reconcileMs)
              .then((held) => {
                if (!held) lost?.abort(new Error("another matchmaker took the reconciliation's turn"));
              })
              .catch((e: Error) => logger?.debug({ err: e.message }, "could not renew the reconciliation's turn"));
            return;
          }
          reconciling = reconcileOnce()
            .catch((e: Error) => {
              if (!stopReconciling.signal.aborted) logger?.warn({ err: e.message }, "reconciliation failed");
            })
            .finally(() => (reconciling = undefined));
        }, reconcileMs)
      : undefined;
  reconcileTimer?.unref();

  const nomatch = (reason: string): MatchReply => ({ schemaVersion: SCHEMA_VERSION, status: "nomatch", backoffSec: mm.nomatchBackoffSec, reason });

  // An autocluster fixes owner DN, VO, group and walltime: one authorization decision per (site, autocluster).
  const siteByName = new Map((o.sites ?? []).map((s) => [s.name, s]));
  const admitted = new Map<string, boolean>();
  function siteAdmits(site: string, ac: string, key: AutoclusterKey): boolean {
    const def = siteByName.get(site);
    if (!def || def.authz.length === 0) return true;
    const k = `${site}\n${ac}`;
    let ok = admitted.get(k);
    if (ok === undefined) {
      const d = authorize(def, { dn: key.userDn, caDn: key.userCaDn, vo: key.vo, groups: key.group ? [key.group] : [], roles: [...key.userRoles] }, { walltimeSec: key.walltimeSec });
      ok = d.allowed;
      if (!ok) logger?.info({ site, userDn: key.userDn, code: d.code, reason: d.reason }, "site refuses an autocluster's owner; its jobs are not offered there");
      if (admitted.size > 100_000) admitted.clear();
      admitted.set(k, ok);
    }
    return ok;
  }

  // Made once, not per advert: what ranking and the claim read of a candidate.
  const budgetLimits = { steps: mm.matchBudgetSteps, ms: mm.matchBudgetMs };
  const ownerOf = (c: RankedCandidate): string => c.key.userDn;
  const usageOf = (dn: string): number => usage.usageOf(dn);
  const acOf = (c: RankedCandidate): string => c.ac;

  /**
   * The autoclusters at `site` a machine matches, in claim order (priority, fair share, Rank): the
   * array itself when the site's index is fresh and no owner's usage must be read (the usual case,
   * so the advert's path holds no async frame of its own for it), else a promise of it. A machine ad
   * over its evaluation budget spends its token (a refused token's error coming first) and is refused.
   */
  function candidatesFor(site: string, machine: ClassAd, token: PilotTokenUse, pilotId: string): readonly RankedCandidate[] | Promise<readonly RankedCandidate[]> {
    // From memory when the index is fresh (no promise of its own).
    const acs = index.liveNow(site);
    if (acs === undefined) return index.live(site).then((fetched) => matchAndOrder(site, fetched, machine, token, pilotId));
    return matchAndOrder(site, acs, machine, token, pilotId);
  }

  function matchAndOrder(site: string, acs: ReadonlyArray<readonly [string, AutoclusterKey]>, machine: ClassAd, token: PilotTokenUse, pilotId: string): readonly RankedCandidate[] | Promise<readonly RankedCandidate[]> {
    const matching: RankedCandidate[] = [];
    // One evaluation budget for the whole advert (every autocluster's Requirements, Ranks and
    // regexps together): a hostile ad costs at most that much of the event loop, then is refused.
    // Opened at the first decision not already known: a pilot re-sending its ad evaluates nothing.
    let budget: EvalBudget | undefined;
    try {
      for (const [ac, key] of acs) {
        if (!siteAdmits(site, ac, key)) continue;
        const d = cache.known(machine, ac) ?? cache.decideFor(machine, ac, key, (budget ??= new EvalBudget(budgetLimits)));
        if (d.match) matching.push({ ac, key, jobRank: d.jobRank });
      }
    } catch (e) {
      if (!(e instanceof EvalBudgetExceeded)) throw e;
      cache.markOverBudget(machine);
      // A refused token's error comes first, as it did when the token was checked before matching.
      return tokens.spend(token).then(() => {
        throw overBudget(site, pilotId, e.detail);
      });
    }
    if (matching.length <= 1) return matching;
    const fetching = usage.prefetch(matching, ownerOf);
    if (fetching) return fetching.then(() => orderCandidates(matching, usageOf));
    return orderCandidates(matching, usageOf);
  }

  // A pilot that verified this signer certificate and delegation before says so (`knownSigner`):
  // its envelope then names the pair instead of carrying ~2.9 KB of it again. The id is worked out
  // once per pair (the signer hands out the same objects until its delegation rotates).
  let lastPair: { signerCert: string; delegation: MatchEnvelope["delegation"]; ref: string } | undefined;
  function forPilot(env: MatchEnvelope, knownSigner: string | undefined): MatchEnvelope {
    if (knownSigner === undefined || env.signerCert === undefined) return env;
    if (lastPair?.signerCert !== env.signerCert || lastPair.delegation !== env.delegation) {
      lastPair = { signerCert: env.signerCert, delegation: env.delegation, ref: signerRef({ signerCert: env.signerCert, delegation: env.delegation }) };
    }
    return lastPair.ref === knownSigner ? namingSigner(env, knownSigner) : env;
  }

  function overBudget(site: string, pilotId: string, detail: string): WmsError {
    logger?.warn({ site, pilotId, code: ERR.MATCH_BUDGET_EXCEEDED, detail }, "advert refused: its match ran over the evaluation budget");
    return new WmsError(ERR.MATCH_BUDGET_EXCEEDED, `matching this machine ad ran over its evaluation budget (${detail}); simplify its expressions`);
  }

  /**
   * The claim came back after its pilot stopped waiting (Redis was away or stalled while it ran): the
   * reply would reach nobody, and the job would sit claimed until its lease ran out, then cost an
   * attempt. It is given back now, attempt unchanged. Should the pilot still take a reply (its event
   * loop late), none is sent; and a pilot runs nothing before its heartbeat confirmed the claim,
   * which the give-back's fenced move refuses (jobs/lifecycle.ts, UNCONFIRMED_STATE).
   */
  async function giveBackLate(claimed: ClaimedJob, pilotId: string, waitedMs: number): Promise<MatchReply> {
    m.lateClaims.inc();
    const jobId = claimed.spec.jobId;
    logger?.warn({ jobId, pilotId, waitedMs: Math.round(waitedMs) }, "claim given back: it came back from Redis after its pilot had stopped waiting for the reply");
    await dispatch.giveBack({ jobId, lockToken: claimed.lockToken, site: claimed.site, autocluster: claimed.autocluster, attempt: claimed.attempt });
    return nomatch(`the job claimed for this pilot came too late for its advert and was given back`);
  }

  async function answerAdvert(data: Uint8Array, subjectSite: string | undefined, arrivedAt: number): Promise<AdvertAnswer> {
    const advert = MachineAdvert.parseJson(data);
    checkSubjectSite("advert", advert.site, subjectSite);
    // Checked before anything is spent or claimed, by the check the encryption itself makes (EC on
    // P-256, not only EC: a P-384 or secp256k1 key passed a type check, then its claim was given
    // back and its token's use lost). A pilot keeps its key for its life; the parsed point is remembered.
    checkPilotPublicKey(advert.publicKey);
    // The token is used in the claim's own step (one round trip for both, jobs/README.md), or on its
    // own when the advert ends before a claim; a refused token's error comes before any other.
    const token = tokens.use(advert.token, advert.site, advert.pilotId);
    let machine: ClassAd;
    try {
      machine = cache.machineAd(advert.classad);
    } catch (e) {
      await tokens.spend(token);
      throw new WmsError(ERR.MATCH_BAD_MACHINE_AD, (e as Error).message);
    }
    if (cache.isOverBudget(machine)) {
      await tokens.spend(token);
      throw overBudget(advert.site, advert.pilotId, "this ad ran over it before");
    }
    // The best job: one claim over the ordered candidates (one script in the site's shard), written
    // here rather than in a function of its own, whose async frame and promise cost heap per match.
    // The token's use is made in the claim's own step, or on its own when there is nothing to claim;
    // either way before the advert is answered, and a token refused claims nothing.
    const found = candidatesFor(advert.site, machine, token, advert.pilotId);
    const ordered = found instanceof Promise ? await found : found;
    if (ordered.length === 0) {
      await tokens.spend(token);
      return nomatch(`no waiting job at ${advert.site} matches this pilot`);
    }
    // The pilot's report key is bound to the attempt in the claim's own step: its reports must carry it.
    const claimed = await dispatch.claim(advert.site, ordered.map(acOf), { pilotId: advert.pilotId, reportKey: advert.reportKey }, { use: token, store: tokens });
    // Each candidate ahead of the autocluster that answered was empty. A loop, not findIndex and
    // slice: no closure or array for it on every advert.
    for (const c of ordered) {
      if (c.ac === claimed?.autocluster) break;
      index.markEmpty(advert.site, c.ac);
    }
    if (!claimed) return nomatch(`no waiting job at ${advert.site} matches this pilot`);
    // Timed from the advert's arrival: its pilot started waiting before that, so past its whole wait
    // it has certainly given up (not STALE_ADVERT_MS: a reply that may still be heard is sent).
    const waitedMs = performance.now() - arrivedAt;
    if (waitedMs >= ADVERT_ANSWER_WAIT_MS) return giveBackLate(claimed, advert.pilotId, waitedMs);
    try {
      const job = claimed.spec;
      if (!verifyJobSpecSeal(specSeals, job)) return await refuseUnsealed(claimed, advert.pilotId);
      const now = Date.now();
      // Minted now the claim stands, bound to the attempt its record move made (the one the envelope
      // names): a pure HMAC, nothing written (security/one-time-key-store.ts).
      const oneTimeKey = mintOneTimeKey(keySealer, { userDn: job.userDn, jobId: job.jobId, pilotId: advert.pilotId, attempt: job.attempt, site: advert.site, ttlSec: config.credentials.oneTimeKeyTtlSec }, now);
      // The body's JSON leaves an absent reportKey out, as JSON.stringify does. (The spec is written anew from the object
      // its seal was checked on: splicing in the record's own JSON text instead was measured to
      // save nothing, since the spliced body is then copied flat as large as stringify writes it.)
      const body: EnvelopeBody = {
        schemaVersion: SCHEMA_VERSION,
        job,
        submitterDn: job.userDn,
        pilotId: advert.pilotId,
        lockToken: claimed.lockToken,
        // Only this pilot can open them: what another reader of the reply learns fetches no
        // credential and renews no lease.
        encryptedKeys: encryptKeysToPilot(advert.publicKey, {
          proxyKey: oneTimeKey,
          heartbeatKey: heartbeatKeyFor(heartbeatKeys, { jobId: job.jobId, attempt: job.attempt, leaseToken: claimed.lockToken, pilotId: advert.pilotId }),
        }),
        reportKey: advert.reportKey,
        nonce: randomHex(16),
        issuedAt: now,
        expiresAt: now + mm.envelopeTtlSec * 1000,
      };
      if (signer.signToBytes) return { schemaVersion: SCHEMA_VERSION, status: "match", envelope: await signer.signToBytes(body, advert.knownSigner) };
      return { schemaVersion: SCHEMA_VERSION, status: "match", envelope: forPilot(await signer.sign(body), advert.knownSigner) };
    } catch (e) {
      // Undeliverable (e.g. a public key that does not encrypt): the job goes back, attempt unchanged.
      await dispatch.unclaim(claimed).catch((err: Error) => logger?.error({ err: err.message, jobId: claimed.spec.jobId }, "could not give a claimed job back"));
      throw e;
    }
  }

  /**
   * The claimed spec is not what the intake sealed (rewritten in Redis, or queued by something that
   * is not the intake): nothing is signed, the job fails with its code, and the event is logged,
   * audited and counted. The pilot is told there is no job for it.
   */
  async function refuseUnsealed(claimed: ClaimedJob, pilotId: string): Promise<MatchReply> {
    const jobId = claimed.spec.jobId;
    m.refusedSpecs.inc();
    logger?.warn({ jobId, pilotId, code: ERR.SEC_SPEC_UNSEALED }, "queued job spec does not carry a valid intake seal; not signed, job failed");
    await Promise.allSettled([
      dispatch.release(jobId, claimed.lockToken),
      jobs.transition(jobId, "failed", ["sent"], { errorCode: ERR.SEC_SPEC_UNSEALED, errorMessage: "the queued spec does not match the intake's seal (changed in the store); submit the task again" }),
      audit.write("job-spec-unsealed", { jobId, pilotId, site: claimed.site, code: String(ERR.SEC_SPEC_UNSEALED) }),
    ]);
    return nomatch(`E${ERR.SEC_SPEC_UNSEALED}: the job claimed for this pilot was refused`);
  }

  function errorReply(e: unknown): { schemaVersion: 1; status: "error"; code: number; name: string; message: string } {
    const w = toWmsError(e);
    if (w.code === ERR.INTERNAL) logger?.error({ err: (e as Error).stack }, "advert failed");
    return { schemaVersion: SCHEMA_VERSION, ...w.toReply() };
  }

  async function onAdvert(msg: Msg, waitedMs: number): Promise<void> {
    // performance.now() rather than the histogram's startTimer(), whose closure and two hrtime
    // arrays were allocated for every advert.
    const started = performance.now();
    let reply: AdvertAnswer;
    try {
      reply = await answerAdvert(msg.data, subjectSiteOf(msg.subject, names.subjects.advert), started - waitedMs);
      if (reply.status === "match") m.matches.inc();
      else m.nomatches.inc();
    } catch (e) {
      reply = errorReply(e);
      m.errors.inc({ code: String(reply.status === "error" ? reply.code : 0) });
      if (reply.status === "error" && PILOT_TOKEN_REFUSALS.has(reply.code)) void tokenRefused(msg.data, reply.code, reply.message);
    }
    if (isInboxReply(msg.reply)) msg.respond(jsonBytes(reply));
    m.latency.observe((performance.now() - started) / 1000);
  }

  /**
   * A refused pilot token leaves a trace: a log line, a `token-refused` entry in the security audit
   * stream and the `wms_matchmaker_token_refusals_total{code}` counter. Who claimed to be which
   * pilot is read from the advert as sent (it failed nothing but the token check). The log line and
   * the audit entry at most REFUSAL_AUDITS_PER_MINUTE a minute (the next one saying how many were
   * left out): an advert with a made-up token costs its sender one NATS message, and a flood of them
   * would otherwise push every older event out of the capped audit stream. The counter counts all.
   */
  const tokenAudits = refusalAuditBudget();
  async function tokenRefused(data: Uint8Array, code: number, message: string): Promise<void> {
    m.tokenRefusals.inc({ code: String(code) });
    const budget = tokenAudits.take();
    if (!budget.write) return;
    let claimed: { pilotId?: unknown; site?: unknown } = {};
    try {
      claimed = JSON.parse(new TextDecoder().decode(data)) as typeof claimed;
    } catch {
      // validated before the token was checked; nothing else to read
    }
    const pilotId = typeof claimed.pilotId === "string" ? claimed.pilotId.slice(0, 128) : "";
    const site = typeof claimed.site === "string" ? claimed.site.slice(0, 64) : "";
    const fields = { pilotId, site, code: String(code), ...(budget.omitted > 0 && { omittedBefore: String(budget.omitted) }) };
    logger?.warn(fields, `pilot token refused: ${message}`);
    await audit.write("token-refused", fields).catch((err: Error) => logger?.error({ err: err.message }, "could not audit a token refusal"));
  }

  /**
   * Every job a heartbeat names, renewed together: the leases in one script call per site shard,
   * beside each job's fence (attempt, lease token and pilot against its record, in its task's slot).
   * The fence checks made in one turn run as one script call per task shard (fence-2 is a batched
   * script): a heartbeat naming 20 jobs of one task costs two EVALSHAs in all. They cannot share the
   * site shard's call: the record, its attempt and its state (a cancel) live in the task's slot.
   */
  async function renewLeases(batch: readonly LeaseRenewal[]): Promise<LeaseStatus[]> {
    const [extended, held] = await Promise.all([
      dispatch.renewLeases(
        batch.map((r) => ({ jobId: r.jobId, leaseToken: r.fence.leaseToken })),
        lockMs,
      ),
      Promise.all(batch.map((r) => jobs.checkFence(r.jobId, r.fence))),
    ]);
    // Fields written out, not spread: per job of every heartbeat.
    return held.map((h, i) => ({ extended: extended[i], verdict: h.verdict, state: h.state }));
  }

  /**
   * A heartbeat job that was not authentic leaves a trace: a log line and a `heartbeat-refused`
   * entry in the security audit stream (both at most REFUSAL_AUDITS_PER_MINUTE a minute, since
   * anyone who may publish heartbeats can send them by the thousand) and the
   * `wms_matchmaker_heartbeat_refusals_total{code}` counter, which counts every one.
   */
  const heartbeatAudits = refusalAuditBudget();
  function heartbeatRefused(r: HeartbeatRefusal): void {
    m.heartbeatRefusals.inc({ code: String(r.code) });
    const budget = heartbeatAudits.take();
    if (!budget.write) return;
    const fields = { pilotId: r.pilotId, site: r.site, jobId: r.jobId, attempt: String(r.attempt), code: String(r.code), ...(budget.omitted > 0 && { omittedBefore: String(budget.omitted) }) };
    logger?.warn(fields, `heartbeat refused: ${r.reason}`);
    void audit.write("heartbeat-refused", fields).catch((err: Error) => logger?.error({ err: err.message }, "could not audit a refused heartbeat"));
  }

  const heartbeatDeps = {
    renewLeases,
    macHolds: (claim: Parameters<typeof heartbeatMacHolds>[1], mac: string) => heartbeatMacHolds(heartbeatKeys, claim, mac),
    refused: heartbeatRefused,
    confirm: (jobId: string, fence: LeaseRenewal["fence"]): Promise<boolean> => dispatch.confirmClaim(jobId, fence),
    hold: async (jobId: string, fence: LeaseRenewal["fence"]): Promise<void> => {
      await jobs.transition(jobId, "holding", LEASED_STATES, {}, Date.now(), undefined, undefined, fence);
    },
    lockMs,
    count: (result: string) => m.heartbeats.inc({ result }),
  };

  async function onHeartbeatBatch(msg: Msg): Promise<void> {
    let reply: HeartbeatBatchReply;
    try {
      const batch = HeartbeatBatch.parseJson(msg.data);
      const jobsReplies = await answerHeartbeats(batch, subjectSiteOf(msg.subject, names.subjects.heartbeat), heartbeatDeps);
      reply = { schemaVersion: SCHEMA_VERSION, status: "ok", jobs: jobsReplies };
    } catch (e) {
      if (isWmsError(e) && e.code === ERR.BAD_INPUT) m.heartbeats.inc({ result: "bad" });
      reply = errorReply(e);
    }
    if (isInboxReply(msg.reply)) msg.respond(jsonBytes(reply));
  }

  /** A pilot started before batched heartbeats: its one job, answered as a batch of one. */
  async function onSingleHeartbeat(msg: Msg): Promise<void> {
    let reply: HeartbeatReply;
    try {
      const [r] = await answerHeartbeats(batchOfOne(Heartbeat.parseJson(msg.data)), undefined, heartbeatDeps);
      reply = singleReply(r);
    } catch (e) {
      if (isWmsError(e) && e.code === ERR.BAD_INPUT) m.heartbeats.inc({ result: "bad" });
      reply = errorReply(e);
    }
    if (isInboxReply(msg.reply)) msg.respond(jsonBytes(reply));
  }

  // Adverts are answered concurrently up to matchmaker.maxAdvertsInFlight (advert-admission.ts);
  // the rest wait in arrival order. Heartbeats are not counted against that cap: they keep leases
  // alive, and a burst of adverts must not make a running job's lease run out.
  const admission = new AdvertAdmission<Msg>({
    maxInFlight: mm.maxAdvertsInFlight,
    staleMs: STALE_ADVERT_MS,
    answer: onAdvert,
    dropped: () => m.staleAdverts.inc(),
  });
  const admissions = admissionGauges(registry);
  admissions.add(admission);
  // Heartbeats are answered as they come; stop() waits for the ones in flight before closing queues.
  const inflight = new Set<Promise<void>>();
  function serve(sub: Subscription, handler: (msg: Msg) => Promise<void>): Promise<void> {
    return (async () => {
      for await (const msg of sub) {
        const p = handler(msg).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    })();
  }

  // One queue group for every matchmaker, whichever sites it serves: NATS delivers a message to
  // one member of a group among all its matching subscriptions, so a matchmaker of every site
  // (`.*`) and one of a few sites share the load of those sites and never both answer one advert.
  const siteSubjects = (base: string, of: (site: string) => string): string[] => (mm.sites.length === 0 ? [`${base}.*`] : mm.sites.map(of));
  const group = { queue: names.queueGroups.matchmaker };
  const subs: Subscription[] = [];
  const loops: Promise<void>[] = [];
  const listen = (subject: string, handler: (msg: Msg) => Promise<void>): void => {
    const sub = nc.subscribe(subject, group);
    subs.push(sub);
    loops.push(serve(sub, handler));
  };
  // Adverts are handed to the admission as NATS parses them (a callback, no iterator): their wait
  // is timed from then.
  const listenAdverts = (subject: string): void => {
    subs.push(
      nc.subscribe(subject, {
        ...group,
        callback: (err, msg) => {
          if (err) logger?.warn({ err: err.message, subject }, "advert subscription error");
          else admission.offer(msg);
        },
      }),
    );
  };
  for (const subject of siteSubjects(names.subjects.advert, names.advertFor)) listenAdverts(subject);
  for (const subject of siteSubjects(names.subjects.heartbeat, names.heartbeatFor)) listen(subject, onHeartbeatBatch);
  // The base subjects: pilots started before per-site subjects advertise and heartbeat there.
  listenAdverts(names.subjects.advert);
  listen(names.subjects.heartbeat, onSingleHeartbeat);
  await nc.flush();
  logger?.info({ sites: mm.sites.length === 0 ? "all" : mm.sites, group: names.queueGroups.matchmaker }, "matchmaker listening");

  return {
    registry,
    dispatch,
    async stop() {
      stopReconciling.abort();
      for (const sub of subs) sub.unsubscribe();
      await Promise.all(loops);
      await Promise.allSettled([...inflight]);
      await admission.idle();
      admissions.delete(admission);
      if (reconcileTimer) clearInterval(reconcileTimer);
      await reconciling;
      await dispatch.close();
    },
  };
}
