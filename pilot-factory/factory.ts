// The factory service: for each queue, every `cycleSec`, look at the census and the waiting jobs,
// ask the pure policy how many pilots to submit, mint one token per pilot, submit through the
// queue's adapter, and write the queue's status. Listens for pilot census messages and live knob
// changes on NATS. Connections are passed in; the factory closes only what it opened.
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { NatsConnection, Subscription } from "nats";
import type { RedisClient } from "../platform/redis-client.ts";
import {
  toWmsError,
  ERR,
  PilotCensus,
  SCHEMA_VERSION,
  WmsError,
  type FactoryConfig,
  type FactoryControl,
  type FactoryControlReply,
  type FactoryQueue,
  type FactoryQueueStatus,
  type WireNames,
} from "../schemas/index.ts";
import type { Logger } from "../platform/logger.ts";
import { serveRequests } from "../platform/request-reply-service.ts";
import { CondorAdapter } from "./adapters/condor-adapter.ts";
import { LocalAdapter } from "./adapters/local-adapter.ts";
import { SlurmAdapter } from "./adapters/slurm-adapter.ts";
import type { SubmitAdapter, SubmitOutcome } from "./adapters/submit-adapter.ts";
import { checkFactoryConfig } from "./factory-config-check.ts";
import { acquireFactoryLease } from "./factory-lease.ts";
import { writeQueueStatus } from "./factory-status-store.ts";
import { applyKnobChanges } from "./knob-changes.ts";
import { controlTarget, loadKnobChanges, saveSignedControl } from "./knob-store.ts";
import { pilotCommand as defaultPilotCommand, type PilotCommandBuilder, type PilotLaunch, type PilotRuntime } from "./pilot-command.ts";
import { breakerAdmits, breakerAfterCycle, CLOSED_BREAKER, type BreakerReason, type BreakerState } from "./circuit-breaker.ts";
import { PilotCensusStore, type QueueCensus } from "./pilot-census-store.ts";
import { resolveQueue, type ResolvedQueue } from "./queue-defaults.ts";
import { decideSubmission, initialBucket, refillBucket, type QueueObservation, type RateBucket, type SubmissionDecision } from "./submission-policy.ts";

/**
 * security/ FactoryControlVerifier, seen from the factory: who may retune it. `admit` checks a live
 * request (operator chain and role, CRL, signature, time window) and consumes its nonce; `persisted`
 * checks a kept one without its age; `refused` audits and counts a refusal. Each throws WmsError.
 */
export interface FactoryControlGate {
  admit(signed: unknown): Promise<{ control: FactoryControl; by: string }>;
  persisted(signed: unknown): { control: FactoryControl; by: string };
  refused(code: number, reason: string, fields: Readonly<Record<string, string>>): Promise<void>;
}

/** security/ PilotTokenStore, seen from the factory: one token per pilot, bound to site, factory and pilot id. */
export interface PilotTokenMinter {
  mint(o: { site: string; factoryId: string; pilotId: string; uses: number; ttlSec: number }): Promise<string>;
  /**
   * The proof the census of the pilot started with `token` carries (security's censusProof): the
   * factory keeps its hash and believes a census naming that pilot only with it.
   */
  censusProof(token: string, pilotId: string): string;
  /** The hash of a census proof the factory keeps and compares (security's secretHash, SHA-256 hex). */
  proofHash(proof: string): string;
}

export interface FactoryOptions {
  readonly config: FactoryConfig;
  readonly nc: NatsConnection;
  readonly redis: RedisClient;
  readonly names: WireNames;
  readonly tokens: PilotTokenMinter;
  /**
   * Activated jobs at the site that this queue's pilots could run (`activatedJobsReader` over the
   * dispatch queues; a per-site counter also fits). Caps the queue's waiting pilots.
   */
  readonly waitingJobs: (site: string, queue: FactoryQueue) => Promise<number>;
  /** How pilots are started: node, bin/wms.mjs, namespace, config path, service URLs. */
  readonly runtime: PilotRuntime;
  /** Logs and submit files go under `<workDir>/<factoryId>/<queue>/`. */
  readonly workDir: string;
  /** The factory's environment, for the default adapters (PATH; allowlisted variables reach pilots). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly adapterFor?: (queue: FactoryQueue) => SubmitAdapter;
  readonly pilotCommand?: PilotCommandBuilder;
  readonly logger?: Logger;
  /** Milliseconds since the epoch; tests may drive it. */
  readonly clock?: () => number;
  /** false: no timers, the caller drives `cycleOnce()` (tests, the demo). Default true. */
  readonly autoCycle?: boolean;
  /**
   * The deployment's site names: a queue for any other site is refused at start
   * (FACTORY_UNKNOWN_SITE). Undefined: not checked (the caller knows no site list).
   */
  readonly knownSites?: readonly string[];
  /** Called after every queue cycle. */
  readonly onCycle?: (report: CycleReport) => void;
  /**
   * Verifies factory control (`wms factory set`). Without it the factory takes no live change
   * and ignores persisted ones (SEC_NOT_OPERATOR): it cannot tell an operator from anyone else.
   */
  readonly control?: FactoryControlGate;
}

export interface CycleReport {
  readonly queue: string;
  /** 1, 2, ... per queue. */
  readonly cycle: number;
  readonly startedAt: number;
  readonly knobs: FactoryQueue;
  readonly observation: QueueObservation;
  readonly decision: SubmissionDecision;
  readonly submitted: readonly string[];
  readonly failed: readonly string[];
  /** Pilots found gone this cycle without an exit census (batch system's view or census expiry). */
  readonly missed: readonly string[];
  readonly breaker: BreakerState;
  readonly error?: WmsError;
}

export interface RunningFactory {
  readonly factoryId: string;
  /** The queues as they are now, live changes applied. */
  queues(): FactoryQueue[];
  /** Runs one cycle of every queue now (waits for any cycle in flight first). */
  cycleOnce(): Promise<CycleReport[]>;
  census(queue: string): Promise<QueueCensus>;
  /** Stops cycling and listening; waits for the cycles in flight. Does not stop pilots. */
  stop(): Promise<void>;
}

interface QueueState {
  knobs: FactoryQueue;
  bucket: RateBucket | undefined;
  cycle: number;
  timer: NodeJS.Timeout | undefined;
  inFlight: Promise<CycleReport> | undefined;
  breaker: BreakerState;
  /** The census's appeared / missedPending counters at the last cycle: their growth feeds the breaker. */
  appeared: number;
  missedPending: number;
}

/** Census updates applied at once, across different pilots. */
const CENSUS_IN_FLIGHT = 256;

/**
 * How long after a pilot's last word (census, or submission) the batch system's "gone" is
 * believed: an exit census still on its way lands first. Never more than one census interval.
 */
const GONE_GRACE_MS = 5000;
const EXIT_GRACE_MS = 2000;

/** Census messages a live pilot may miss (NATS reconnecting) before it is missed: two intervals. */
const CENSUS_EXPIRY_INTERVALS = 2;

const asWmsError = toWmsError;

function newPilotId(queue: string): string {
  return `${queue.slice(0, 64)}.${Date.now().toString(36)}.${randomBytes(5).toString("hex")}`;
}

export async function startFactory(o: FactoryOptions): Promise<RunningFactory> {
  const factoryId = o.config.factoryId;
  const clock = o.clock ?? Date.now;
  const log = o.logger?.child({ factoryId });
  const census = new PilotCensusStore(o.redis, o.names, factoryId, (proof) => o.tokens.proofHash(proof));
  const buildCommand = o.pilotCommand ?? defaultPilotCommand;
  const env = o.env ?? {};
  const adapters = new Map<string, SubmitAdapter>();
  const adapterFor =
    o.adapterFor ??
    ((q: FactoryQueue): SubmitAdapter => {
      let a = adapters.get(q.adapter);
      if (!a) {
        a = q.adapter === "condor" ? new CondorAdapter({ env }) : q.adapter === "slurm" ? new SlurmAdapter({ env }) : new LocalAdapter({ env });
        adapters.set(q.adapter, a);
      }
      return a;
    });

  checkFactoryConfig(o.config, o.knownSites);
  const state = new Map<string, QueueState>();
  for (const q of o.config.queues) {
    let knobs = q;
    // Changes made with `wms factory set` outlive the process: they apply over the file, each
    // only if its operator signature still verifies.
    const gate = o.control;
    const persisted = await loadKnobChanges(o.redis, o.names, factoryId, q.name, (signed) => {
      if (!gate) throw new WmsError(ERR.SEC_NOT_OPERATOR, "this factory was started without the deployment's trust store and cannot verify operators");
      return gate.persisted(signed);
    });
    for (const r of persisted.refused) {
      log?.warn({ queue: q.name, knob: r.knob, code: r.code, err: r.message }, "persisted knob change refused; the file's value applies");
      await gate?.refused(r.code, r.message, { factoryId, queue: q.name, knob: r.knob, source: "persisted" });
    }
    if (persisted.changes) {
      knobs = applyKnobChanges(q, persisted.changes);
      log?.info({ queue: q.name, persisted: persisted.changes }, "applied persisted knob changes");
    }
    const c = await census.counts(q.name, clock());
    state.set(q.name, { knobs, bucket: undefined, cycle: 0, timer: undefined, inFlight: undefined, breaker: CLOSED_BREAKER, appeared: c.appeared, missedPending: c.missedPending });
  }

  let stopped = false;
  // Refuses to start (FACTORY_ALREADY_RUNNING) while another process runs this factory id.
  const lease = await acquireFactoryLease(o.redis, o.names, factoryId, () => log?.error("factory lease lost: another process may run this factory id"));

  // Census expiry is judged only over time this process has listened: pilots silent while no
  // factory ran are left to the batch system's view.
  let listeningSince = Number.POSITIVE_INFINITY;
  // When this process first saw each live pilot reported gone by the batch system. The grace for
  // an exit census still in flight runs from that moment, not from the pilot's last census: a
  // pilot heard just before it ended would otherwise stay "idle" for a whole census interval plus
  // a cycle after the batch system already knew it was gone.
  const goneSeenAt = new Map<string, number>();

  /**
   * Pilots gone without an exit census: the batch system no longer has them (after a grace for an
   * exit message on its way), or, where it cannot tell, they have been silent for two census
   * intervals. Reads everything from Redis, so it holds across factory restarts.
   */
  async function reconcile(q: ResolvedQueue, now: number): Promise<string[]> {
    const live = await census.livePilots(q.name);
    if (live.length === 0) return [];
    const adapter = adapterFor(q);
    let view: ReadonlyMap<string, string> = new Map();
    if (adapter.query) {
      try {
        view = await adapter.query(live, { factoryId, queue: q });
      } catch (e) {
        log?.warn({ queue: q.name, err: (e as Error).message }, "batch system view unavailable; census expiry only");
      }
    }
    const censusMs = q.censusSec * 1000;
    const graceMs = Math.min(GONE_GRACE_MS, censusMs);
    // An exit census is published before the process ends, so it is at most a NATS hop behind the
    // batch system's view; half an interval (2 s at most) is ample.
    const exitGraceMs = Math.min(EXIT_GRACE_MS, censusMs / 2);
    const expiryMs = CENSUS_EXPIRY_INTERVALS * censusMs;
    const gone: string[] = [];
    const liveIds = new Set(live.map((p) => p.pilotId));
    for (const id of goneSeenAt.keys()) if (!liveIds.has(id)) goneSeenAt.delete(id);
    for (const p of live) {
      const batch = view.get(p.pilotId);
      if (batch === "gone") {
        const seen = goneSeenAt.get(p.pilotId) ?? now;
        goneSeenAt.set(p.pilotId, seen);
        if (now - seen >= exitGraceMs || now - (p.heardAt ?? p.submittedAt) >= graceMs) gone.push(p.pilotId);
        continue;
      }
      goneSeenAt.delete(p.pilotId);
      if (batch === undefined && p.heardAt !== undefined && now - listeningSince >= expiryMs && now - p.heardAt >= expiryMs) {
        gone.push(p.pilotId);
      }
    }
    if (gone.length === 0) return [];
    await census.markLost(q.name, gone, now);
    log?.warn({ queue: q.name, pilots: gone.length }, "pilots gone without an exit census; counted as missed");
    return gone;
  }

  async function submitPilots(qs: QueueState, n: number, now: number): Promise<SubmitOutcome> {
    const q = qs.knobs;
    const adapter = adapterFor(q);
    const ids = Array.from({ length: n }, () => newPilotId(q.name));
    // The token must outlive the wait in the batch queue and the pilot's life: twice the lifetime.
    const ttlSec = q.pilotLifetimeSec * 2;
    // Each token serves its own pilot's id only: a pilot cannot claim under another's (attribution).
    const tokens = await Promise.all(ids.map((pilotId) => o.tokens.mint({ site: q.site, factoryId, pilotId, uses: q.tokenUses, ttlSec })));
    const launches: PilotLaunch[] = ids.map((pilotId, i) => ({
      pilotId,
      site: q.site,
      queue: q.name,
      factoryId,
      token: tokens[i],
      lifetimeSec: q.pilotLifetimeSec,
      maxEmpty: q.emptyAdvertsLimit,
      censusSec: resolveQueue(q).censusSec,
    }));
    // Registered before submitting, so a quick pilot's first census finds its record.
    await census.recordSubmitted(
      q.name,
      q.site,
      ids,
      now,
      ids.map((id, i) => o.tokens.censusProof(tokens[i], id)),
    );
    let outcome: SubmitOutcome;
    try {
      outcome = await adapter.submit(launches, { factoryId, queue: q, queueDir: path.join(o.workDir, factoryId, q.name), runtime: o.runtime, pilotCommand: buildCommand });
    } catch (e) {
      await census.forgetSubmitted(q.name, ids);
      throw e;
    }
    await census.forgetSubmitted(
      q.name,
      outcome.failed.map((f) => f.pilotId),
    );
    if (outcome.batchIds) await census.recordBatchIds(outcome.batchIds);
    return outcome;
  }

  async function runCycle(name: string): Promise<CycleReport> {
    const qs = state.get(name);
    if (!qs) throw new WmsError(ERR.NOT_FOUND, `queue ${name}`);
    const q = resolveQueue(qs.knobs);
    const startedAt = clock();
    qs.cycle++;
    let error: WmsError | undefined;
    await census.reapLost(q.name, startedAt - q.pilotLifetimeSec * 2 * 1000, startedAt, startedAt - CENSUS_EXPIRY_INTERVALS * q.censusSec * 1000);
    const missed = await reconcile(q, startedAt);
    const counts = await census.counts(q.name, startedAt);
    let waitingJobs = 0;
    try {
      waitingJobs = Math.max(0, Math.floor(await o.waitingJobs(q.site, q)));
    } catch (e) {
      error = asWmsError(e);
      log?.warn({ queue: q.name, err: error.message }, "activated jobs unknown; submitting nothing this cycle");
    }
    // What the census saw since the last cycle moves the breaker before deciding: a trial pilot
    // heard from reopens the queue this very cycle.
    const before = qs.breaker;
    const appeared = Math.max(0, counts.appeared - qs.appeared);
    const missedPending = Math.max(0, counts.missedPending - qs.missedPending);
    qs.appeared = counts.appeared;
    qs.missedPending = counts.missedPending;
    const missedReason: BreakerReason | undefined =
      missedPending > 0
        ? { code: ERR.FACTORY_PILOT_MISSED, message: `${missedPending} pilot(s) submitted to ${q.adapter} were never heard from (gone from the batch system or silent); see the pilots' logs under the factory work dir` }
        : undefined;
    qs.breaker = breakerAfterCycle(qs.breaker, { appeared, failed: missedPending, submitted: 0, reason: missedReason }, q, startedAt);
    const observation: QueueObservation = { waitingJobs, pending: counts.pending, idle: counts.idle, running: counts.running, breakerAdmits: breakerAdmits(qs.breaker, startedAt) };
    const bucket = qs.bucket ?? initialBucket(q, startedAt);
    let decision = decideSubmission(q, observation, bucket, startedAt);
    const unavailable = adapterFor(q).unavailable();
    let submitted: readonly string[] = [];
    let failed: readonly string[] = [];
    let refused = 0;
    let submitError: WmsError | undefined;
    if (unavailable && decision.submit > 0) {
      // Nothing minted, nothing spent: the bucket only refills.
      error = unavailable;
      decision = { ...decision, submit: 0, bucket: refillBucket(bucket, q, startedAt) };
    }
    qs.bucket = decision.bucket;
    if (decision.submit > 0) {
      try {
        const outcome = await submitPilots(qs, decision.submit, startedAt);
        submitted = outcome.submitted;
        failed = outcome.failed.map((f) => f.pilotId);
        refused = decision.submit - submitted.length;
        if (outcome.failed.length) submitError = new WmsError(ERR.FACTORY_SUBMIT_FAILED, outcome.failed[0].message);
      } catch (e) {
        submitError = asWmsError(e);
        refused = decision.submit;
        failed = [];
      }
      // Pilots the batch system refused give their rate tokens back.
      const unspent = decision.submit - submitted.length;
      if (unspent > 0 && qs.bucket) qs.bucket = { ...qs.bucket, tokens: qs.bucket.tokens + unspent };
    }
    error = submitError ?? error;
    const after = await census.counts(q.name, clock());
    const refusedReason: BreakerReason | undefined = submitError ? { code: submitError.code, message: submitError.message.slice(0, 4000) } : undefined;
    qs.breaker = breakerAfterCycle(qs.breaker, { appeared: 0, failed: refused, submitted: submitted.length, reason: refusedReason }, q, startedAt);
    if (qs.breaker.phase === "open" && (before.phase !== "open" || qs.breaker.retryAtMs !== before.retryAtMs)) {
      log?.error(
        { queue: q.name, code: ERR.FACTORY_BREAKER_OPEN, failures: qs.breaker.failures, backoffSec: qs.breaker.backoffMs / 1000, cause: qs.breaker.reason },
        `circuit breaker open: ${qs.breaker.failures} failed or missed submissions in a row; one trial pilot in ${Math.round(qs.breaker.backoffMs / 1000)}s`,
      );
    } else if (qs.breaker.phase === "closed" && before.phase !== "closed") {
      log?.info({ queue: q.name }, "circuit breaker closed: a pilot was heard from");
    }
    if (qs.breaker.phase !== "closed" && !error) {
      const why = qs.breaker.reason ? `E${qs.breaker.reason.code} ${qs.breaker.reason.message}` : "failed submissions";
      error = new WmsError(ERR.FACTORY_BREAKER_OPEN, `queue ${q.name}: breaker ${qs.breaker.phase} after ${qs.breaker.failures} failed or missed submissions (${why})`);
    }
    if (error) log?.warn({ queue: q.name, code: error.code, err: error.message }, "queue cycle had a problem");
    else if (submitted.length) log?.info({ queue: q.name, submitted: submitted.length, reason: decision.reason, ...observation }, "pilots submitted");
    const b = qs.breaker;
    const status: FactoryQueueStatus = {
      schemaVersion: SCHEMA_VERSION,
      factoryId,
      queue: q.name,
      site: q.site,
      adapter: q.adapter,
      submitted: after.submitted,
      pending: after.pending,
      idle: after.idle,
      running: after.running,
      exited: after.exited,
      emptyPilots: after.emptyPilots,
      lost: after.lost,
      waitingJobs,
      ratePerMin: after.ratePerMin,
      targetPerMin: q.pilotsPerMinute,
      lastCycleSubmitted: submitted.length,
      breaker: {
        state: b.phase,
        failures: b.failures,
        backoffSec: b.backoffMs / 1000,
        ...(b.retryAtMs !== undefined ? { retryAt: b.retryAtMs } : {}),
        ...(b.reason ? { reason: b.reason } : {}),
      },
      ...(error ? { lastError: { code: error.code, message: error.message.slice(0, 4000) } } : {}),
      knobs: qs.knobs,
      at: clock(),
    };
    await writeQueueStatus(o.redis, o.names, status);
    const report: CycleReport = { queue: q.name, cycle: qs.cycle, startedAt, knobs: qs.knobs, observation, decision, submitted, failed, missed, breaker: b, error };
    o.onCycle?.(report);
    return report;
  }

  /** One cycle of a queue, never two at once. */
  function cycleQueue(name: string): Promise<CycleReport> {
    const qs = state.get(name);
    if (!qs) return Promise.reject(new WmsError(ERR.NOT_FOUND, `queue ${name}`));
    const run = (qs.inFlight ?? Promise.resolve()).catch(() => undefined).then(() => runCycle(name));
    qs.inFlight = run;
    return run;
  }

  function schedule(name: string, delayMs: number): void {
    const qs = state.get(name);
    if (!qs || stopped || o.autoCycle === false) return;
    clearTimeout(qs.timer);
    qs.timer = setTimeout(() => {
      qs.timer = undefined;
      cycleQueue(name)
        .catch((e: unknown) => log?.error({ queue: name, err: (e as Error).message }, "queue cycle failed"))
        .finally(() => {
          if (!qs.timer) schedule(name, qs.knobs.cycleSec * 1000);
        });
    }, delayMs);
  }

  const decoder = new TextDecoder();

  // Anyone holding the pilots' NATS identity can send refused census messages by the thousand: each
  // is counted (the queue's censusRefused), the log says so at most once a minute with how many.
  let refusedSinceLog = 0;
  let refusedLoggedAt = Number.NEGATIVE_INFINITY;
  function censusRefused(msg: PilotCensus): void {
    refusedSinceLog++;
    const now = Date.now();
    if (now - refusedLoggedAt < 60_000) return;
    log?.warn(
      { code: ERR.SEC_CENSUS_FORGED, pilotId: msg.pilotId, state: msg.state, refused: refusedSinceLog },
      `census refused: it names a pilot of this factory without the proof of that pilot's token (E${ERR.SEC_CENSUS_FORGED}); ${refusedSinceLog} refused since the last such line`,
    );
    refusedSinceLog = 0;
    refusedLoggedAt = now;
  }

  /**
   * Census messages of different pilots are applied concurrently (ioredis pipelines them), those
   * of one pilot in order; a bounded number in flight keeps a census storm from piling up memory.
   */
  async function listenCensus(sub: Subscription): Promise<void> {
    const perPilot = new Map<string, Promise<void>>();
    for await (const m of sub) {
      let msg: PilotCensus;
      try {
        msg = PilotCensus.parseJson(m.data);
      } catch (e) {
        log?.warn({ err: (e as Error).message }, "census message dropped");
        continue;
      }
      const pilotId = msg.pilotId;
      const next = (perPilot.get(pilotId) ?? Promise.resolve())
        .then(() => census.applyCensus(msg, clock()))
        .then(
          (outcome) => {
            if (outcome === "refused") censusRefused(msg);
          },
          (e: unknown) => log?.warn({ pilotId, err: (e as Error).message }, "census not applied"),
        )
        .finally(() => {
          if (perPilot.get(pilotId) === next) perPilot.delete(pilotId);
        });
      perPilot.set(pilotId, next);
      if (perPilot.size >= CENSUS_IN_FLIGHT) await Promise.race(perPilot.values());
    }
    await Promise.all(perPilot.values());
  }

  /**
   * One control request: verified by the gate, applied, kept in Redis, answered. Another factory's
   * is not answered. A refusal is recorded by `refuse`, then answered with its code (serveRequests).
   */
  async function control(body: unknown): Promise<FactoryControlReply | undefined> {
    // Only to decide whether this factory answers at all; nothing is believed before the gate.
    const target = controlTarget(body);
    if (target !== undefined && target !== factoryId) return undefined;
    if (!o.control) throw new WmsError(ERR.SEC_NOT_OPERATOR, `factory ${factoryId} was started without the deployment's trust store and takes no control`);
    const { control: c, by } = await o.control.admit(body);
    const qs = state.get(c.queue);
    if (!qs) throw new WmsError(ERR.NOT_FOUND, `factory ${factoryId} runs no queue '${c.queue}'`);
    const before = qs.knobs;
    const after = applyKnobChanges(before, c.knobs);
    // Kept before it is applied: a change the factory acts on is one its next start keeps.
    await saveSignedControl(o.redis, o.names, c, body as Parameters<typeof saveSignedControl>[3]);
    qs.knobs = after;
    log?.info({ queue: c.queue, knobs: c.knobs, by }, "knobs changed");
    // A shorter cycle should not wait out the old, longer one.
    if (qs.knobs.cycleSec < before.cycleSec && qs.timer) schedule(c.queue, qs.knobs.cycleSec * 1000);
    return { schemaVersion: SCHEMA_VERSION, status: "ok", factoryId, queue: c.queue, knobs: after };
  }

  function controlBody(data: Uint8Array): unknown {
    try {
      return JSON.parse(decoder.decode(data));
    } catch (e) {
      throw new WmsError(ERR.BAD_INPUT, `factory control is not JSON (${(e as Error).message})`);
    }
  }

  async function refuse(err: WmsError, data: Uint8Array): Promise<void> {
    const fields = { text: decoder.decode(data).slice(0, 200) };
    log?.warn({ code: err.code, err: err.message, ...fields }, "factory control refused");
    try {
      await o.control?.refused(err.code, err.message, { factoryId, ...fields });
    } catch (e) {
      log?.error({ err: (e as Error).message }, "factory control refusal not recorded");
    }
  }

  const censusSub = o.nc.subscribe(o.names.subjects.pilotCensus);
  // One at a time, in arrival order: two changes of one knob apply in the order they came.
  const controlService = serveRequests(o.nc, o.names.subjects.factoryControl, { decode: controlBody, handler: control, log, what: "factory control", sequential: true, refused: refuse });
  const listeners = [listenCensus(censusSub)];
  // The subscriptions are registered with the server before the first cycle or any `factory set`.
  await o.nc.flush();
  listeningSince = clock();
  for (const name of state.keys()) schedule(name, 0);
  log?.info({ queues: [...state.keys()] }, "factory started");

  return {
    factoryId,
    queues: () => [...state.values()].map((s) => s.knobs),
    cycleOnce: () => Promise.all([...state.keys()].map((name) => cycleQueue(name))),
    census: (queue) => census.counts(queue, clock()),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const qs of state.values()) clearTimeout(qs.timer);
      await Promise.all([...state.values()].map((qs) => qs.inFlight?.catch(() => undefined)));
      censusSub.unsubscribe();
      await Promise.all([...listeners, controlService.stop()]);
      await lease.release();
      log?.info("factory stopped");
    },
  };
}
