// The factory service: for each queue, every `cycleSec`, look at the census and the waiting jobs,
// ask the pure policy how many pilots to submit, mint one token per pilot, submit through the
// queue's adapter, and write the queue's status. Listens for pilot census messages and live knob
// changes on NATS. Connections are passed in; the factory closes only what it opened.
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { NatsConnection, Subscription } from "nats";
import type { Redis } from "ioredis";
import {
  ERR,
  FactoryControl,
  isWmsError,
  PilotCensus,
  SCHEMA_VERSION,
  WmsError,
  type FactoryConfig,
  type FactoryQueue,
  type FactoryQueueStatus,
  type WireNames,
} from "../schemas/index.ts";
import type { Logger } from "../platform/logger.ts";
import { CondorAdapter } from "./adapters/condor-adapter.ts";
import { LocalAdapter } from "./adapters/local-adapter.ts";
import { SlurmAdapter } from "./adapters/slurm-adapter.ts";
import type { SubmitAdapter, SubmitOutcome } from "./adapters/submit-adapter.ts";
import { acquireFactoryLease } from "./factory-lease.ts";
import { writeQueueStatus } from "./factory-status-store.ts";
import { applyKnobChanges } from "./knob-changes.ts";
import { loadKnobChanges } from "./knob-store.ts";
import { pilotCommand as defaultPilotCommand, type PilotCommandBuilder, type PilotLaunch, type PilotRuntime } from "./pilot-command.ts";
import { PilotCensusStore, type QueueCensus } from "./pilot-census-store.ts";
import { decideSubmission, initialBucket, refillBucket, type QueueObservation, type RateBucket, type SubmissionDecision } from "./submission-policy.ts";

/** security/ PilotTokenStore, seen from the factory: one token per pilot, bound to site and factory. */
export interface PilotTokenMinter {
  mint(o: { site: string; factoryId: string; uses: number; ttlSec: number }): Promise<string>;
}

export interface FactoryOptions {
  readonly config: FactoryConfig;
  readonly nc: NatsConnection;
  readonly redis: Redis;
  readonly names: WireNames;
  readonly tokens: PilotTokenMinter;
  /** Jobs waiting at a site: the matchmaker's per-site counter (DispatchQueues.waitingCount). */
  readonly waitingJobs: (site: string) => Promise<number>;
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
  /** Called after every queue cycle. */
  readonly onCycle?: (report: CycleReport) => void;
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
}

/** Census updates applied at once, across different pilots. */
const CENSUS_IN_FLIGHT = 256;

/** How long a local pilot's process must have been gone before its missing exit census is given up on. */
const VANISHED_GRACE_MS = 5000;

const asWmsError = (e: unknown): WmsError => (isWmsError(e) ? e : new WmsError(ERR.INTERNAL, (e as Error).message ?? String(e)));

function newPilotId(queue: string): string {
  return `${queue.slice(0, 64)}.${Date.now().toString(36)}.${randomBytes(5).toString("hex")}`;
}

export async function startFactory(o: FactoryOptions): Promise<RunningFactory> {
  const factoryId = o.config.factoryId;
  const clock = o.clock ?? Date.now;
  const log = o.logger?.child({ factoryId });
  const census = new PilotCensusStore(o.redis, o.names, factoryId);
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

  const state = new Map<string, QueueState>();
  for (const q of o.config.queues) {
    if (state.has(q.name)) throw new WmsError(ERR.BAD_CONFIG, `factory ${factoryId}: queue '${q.name}' is defined twice`);
    let knobs = q;
    // Changes made with `wms factory set` outlive the process: they apply over the file.
    const persisted = await loadKnobChanges(o.redis, o.names, factoryId, q.name);
    if (persisted) {
      knobs = applyKnobChanges(q, persisted);
      log?.info({ queue: q.name, persisted }, "applied persisted knob changes");
    }
    state.set(q.name, { knobs, bucket: undefined, cycle: 0, timer: undefined, inFlight: undefined });
  }

  let stopped = false;
  // Refuses to start (FACTORY_ALREADY_RUNNING) while another process runs this factory id.
  const lease = await acquireFactoryLease(o.redis, o.names, factoryId, () => log?.error("factory lease lost: another process may run this factory id"));

  async function submitPilots(qs: QueueState, n: number, now: number): Promise<SubmitOutcome> {
    const q = qs.knobs;
    const adapter = adapterFor(q);
    const ids = Array.from({ length: n }, () => newPilotId(q.name));
    // The token must outlive the wait in the batch queue and the pilot's life: twice the lifetime.
    const ttlSec = q.pilotLifetimeSec * 2;
    const tokens = await Promise.all(ids.map(() => o.tokens.mint({ site: q.site, factoryId, uses: q.tokenUses, ttlSec })));
    const launches: PilotLaunch[] = ids.map((pilotId, i) => ({
      pilotId,
      site: q.site,
      queue: q.name,
      factoryId,
      token: tokens[i],
      lifetimeSec: q.pilotLifetimeSec,
      maxEmpty: q.emptyAdvertsLimit,
    }));
    // Registered before submitting, so a quick pilot's first census finds its record.
    await census.recordSubmitted(q.name, q.site, ids, now);
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
    return outcome;
  }

  async function runCycle(name: string): Promise<CycleReport> {
    const qs = state.get(name);
    if (!qs) throw new WmsError(ERR.NOT_FOUND, `queue ${name}`);
    const q = qs.knobs;
    const startedAt = clock();
    qs.cycle++;
    let error: WmsError | undefined;
    await census.reapLost(q.name, startedAt - q.pilotLifetimeSec * 2 * 1000, startedAt);
    const gone = adapterFor(q).vanished?.(startedAt, Math.max(VANISHED_GRACE_MS, q.cycleSec * 2000)) ?? [];
    if (gone.length) {
      const marked = await census.markLost(q.name, gone, startedAt);
      if (marked) log?.warn({ queue: q.name, pilots: marked }, "pilot processes gone without an exit census; counted as lost");
    }
    const counts = await census.counts(q.name, startedAt);
    let waitingJobs = 0;
    try {
      waitingJobs = Math.max(0, Math.floor(await o.waitingJobs(q.site)));
    } catch (e) {
      error = asWmsError(e);
      log?.warn({ queue: q.name, err: error.message }, "waiting jobs unknown; planning for idle pilots only");
    }
    const observation: QueueObservation = { waitingJobs, pending: counts.pending, idle: counts.idle, running: counts.running };
    const bucket = qs.bucket ?? initialBucket(q, startedAt);
    let decision = decideSubmission(q, observation, bucket, startedAt);
    const unavailable = adapterFor(q).unavailable();
    let submitted: readonly string[] = [];
    let failed: readonly string[] = [];
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
        if (outcome.failed.length) error = new WmsError(ERR.FACTORY_SUBMIT_FAILED, outcome.failed[0].message);
      } catch (e) {
        error = asWmsError(e);
        failed = [];
      }
      // Pilots the batch system refused give their rate tokens back.
      const unspent = decision.submit - submitted.length;
      if (unspent > 0 && qs.bucket) qs.bucket = { ...qs.bucket, tokens: qs.bucket.tokens + unspent };
    }
    if (error) log?.warn({ queue: q.name, code: error.code, err: error.message }, "queue cycle had a problem");
    else if (submitted.length) log?.info({ queue: q.name, submitted: submitted.length, reason: decision.reason, ...observation }, "pilots submitted");
    const after = await census.counts(q.name, clock());
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
      ...(error ? { lastError: { code: error.code, message: error.message.slice(0, 4000) } } : {}),
      knobs: q,
      at: clock(),
    };
    await writeQueueStatus(o.redis, o.names, status);
    const report: CycleReport = { queue: q.name, cycle: qs.cycle, startedAt, knobs: q, observation, decision, submitted, failed, error };
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
          () => undefined,
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

  async function listenControl(sub: Subscription): Promise<void> {
    for await (const m of sub) {
      try {
        const msg = FactoryControl.parseJson(m.data);
        if (msg.factoryId !== factoryId) continue;
        const qs = state.get(msg.queue);
        if (!qs) {
          log?.warn({ queue: msg.queue }, "knob change for a queue this factory does not run");
          continue;
        }
        const before = qs.knobs;
        qs.knobs = applyKnobChanges(before, msg.knobs);
        log?.info({ queue: msg.queue, knobs: msg.knobs }, "knobs changed");
        // A shorter cycle should not wait out the old, longer one.
        if (qs.knobs.cycleSec < before.cycleSec && qs.timer) schedule(msg.queue, qs.knobs.cycleSec * 1000);
      } catch (e) {
        log?.warn({ err: (e as Error).message, text: decoder.decode(m.data).slice(0, 200) }, "knob change refused");
      }
    }
  }

  const censusSub = o.nc.subscribe(o.names.subjects.pilotCensus);
  const controlSub = o.nc.subscribe(o.names.subjects.factoryControl);
  const listeners = [listenCensus(censusSub), listenControl(controlSub)];
  // The subscriptions are registered with the server before the first cycle or any `factory set`.
  await o.nc.flush();
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
      controlSub.unsubscribe();
      await Promise.all(listeners);
      await lease.release();
      log?.info("factory stopped");
    },
  };
}
