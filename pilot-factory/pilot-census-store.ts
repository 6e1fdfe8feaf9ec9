// The factory's view of its pilots, in Redis so `wms factory status` in another process (and the
// monitor) read what the running factory sees. Pilots are registered as pending when submitted and
// moved by their census messages; pilots that never report their exit are reaped as lost.
import { timingSafeEqual } from "node:crypto";
import type { RedisClient } from "../platform/redis-client.ts";
import type { PilotCensus, WireNames } from "../schemas/index.ts";
import { CENSUS_TRANSITION_LUA } from "./census-transition-script.ts";
import { factoryKeys, type FactoryKeys, type QueueKeys } from "./factory-keys.ts";
import { knownFactories } from "./factory-status-store.ts";

export interface QueueCensus {
  readonly submitted: number;
  readonly pending: number;
  readonly idle: number;
  readonly running: number;
  readonly exited: number;
  /** Exited having run no job. */
  readonly emptyPilots: number;
  readonly lost: number;
  readonly submitFailures: number;
  /** Pilots submitted in the last 60 s. */
  readonly ratePerMin: number;
  /** Pending pilots whose first census arrived (ever): the batch system did start them. */
  readonly appeared: number;
  /** Pending pilots given up as lost (ever): submitted, never heard from. */
  readonly missedPending: number;
  /** Census messages refused (ever): naming one of this queue's pilots without that pilot's proof. */
  readonly censusRefused: number;
}

/** A pilot not yet exited, as the reconciler sees it. */
export interface LivePilot {
  readonly pilotId: string;
  readonly state: "pending" | "idle" | "running";
  /** The batch system's id (local: pid and start time; HTCondor: cluster.proc; Slurm: job id), when known. */
  readonly batchId?: string;
  readonly submittedAt: number;
  /** Its last census, if any. */
  readonly heardAt?: number;
}

export type CensusOutcome = "applied" | "unknown" | "late" | "refused";

/**
 * How the factory hashes a pilot's census proof (security's secretHash, SHA-256 hex, through the
 * PilotTokenMinter): it keeps only the hash, so a Redis reader (the monitor, an operator's `wms`)
 * learns nothing it could put in a census. The proof is made from the pilot's token
 * (security/census-proof.ts); here it is an opaque string.
 */
export type ProofHash = (proof: string) => string;

function proofHolds(keptHex: string, proof: string | undefined, proofHash: ProofHash): boolean {
  if (proof === undefined) return false;
  const kept = Buffer.from(keptHex, "hex");
  const got = Buffer.from(proofHash(proof), "hex");
  return kept.length === got.length && timingSafeEqual(kept, got);
}

/** How long an exited pilot's record stays readable. */
const EXITED_RETAIN_SEC = 24 * 3600;
const MINUTE_MS = 60_000;

/** The census transition script's KEYS (all under the factory's own hash tag). */
export function censusTransitionKeys(keys: FactoryKeys, q: QueueKeys, pilotId: string): string[] {
  return [keys.pilot(pilotId), q.pending, q.idle, q.running, q.alive, q.counts, q.heard];
}

export class PilotCensusStore {
  private readonly keys: FactoryKeys;

  constructor(
    private readonly redis: RedisClient,
    names: WireNames,
    readonly factoryId: string,
    private readonly proofHash: ProofHash,
  ) {
    this.keys = factoryKeys(names, factoryId);
  }

  private transition(q: QueueKeys, pilotId: string, state: "idle" | "running" | "exited", jobs: number, emptyAdverts: number, nowMs: number, cause: "census" | "lost", heldReports = 0): Promise<unknown> {
    return this.redis.eval(
      CENSUS_TRANSITION_LUA,
      7,
      ...censusTransitionKeys(this.keys, q, pilotId),
      pilotId,
      state,
      String(jobs),
      String(emptyAdverts),
      String(nowMs),
      cause,
      String(EXITED_RETAIN_SEC),
      String(heldReports),
    );
  }

  /**
   * Registers pilots about to be handed to the batch system: pending until their census says
   * otherwise. `proofs[i]` is the census proof pilot i will carry (from its token); a pilot
   * registered with one is moved only by a census that carries it.
   */
  async recordSubmitted(queue: string, site: string, pilotIds: readonly string[], nowMs: number, proofs?: readonly string[]): Promise<void> {
    if (pilotIds.length === 0) return;
    const q = this.keys.queue(queue);
    const m = this.redis.multi();
    for (const [i, id] of pilotIds.entries()) {
      const proof = proofs?.[i];
      m.hset(this.keys.pilot(id), { queue, site, state: "pending", submittedAt: String(nowMs), updatedAt: String(nowMs), ...(proof !== undefined ? { proof: this.proofHash(proof) } : {}) });
      m.sadd(q.pending, id);
      m.zadd(q.alive, nowMs, id);
      m.zadd(q.submits, nowMs, id);
    }
    m.hincrby(q.counts, "submitted", pilotIds.length);
    m.zremrangebyscore(q.submits, "-inf", nowMs - MINUTE_MS);
    m.sadd(this.keys.sites, site);
    m.zadd(this.keys.sitePilots(site), ...pilotIds.flatMap((id) => [nowMs, id]));
    await m.exec();
    await pruneSiteIndex(this.redis, this.keys, site);
  }

  /** Remembers the batch system's id of each accepted pilot, so any later factory process can ask after it. */
  async recordBatchIds(batchIds: Readonly<Record<string, string>>): Promise<void> {
    const entries = Object.entries(batchIds);
    if (entries.length === 0) return;
    const m = this.redis.multi();
    // HSETs of a pilot already gone (its record expired) must not recreate a half record.
    for (const [id, batchId] of entries) m.eval("if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[1], 'batchId', ARGV[1]) end return 0", 1, this.keys.pilot(id), batchId);
    await m.exec();
  }

  /** Every pilot of the queue not yet exited, with its batch id and when it was last heard from. */
  async livePilots(queue: string): Promise<LivePilot[]> {
    const q = this.keys.queue(queue);
    const ids = await this.redis.zrange(q.alive, 0, -1);
    if (ids.length === 0) return [];
    const m = this.redis.multi();
    for (const id of ids) {
      m.hmget(this.keys.pilot(id), "state", "batchId", "submittedAt");
      m.zscore(q.heard, id);
    }
    const r = (await m.exec()) ?? [];
    const out: LivePilot[] = [];
    ids.forEach((pilotId, i) => {
      const [state, batchId, submittedAt] = (r[2 * i]?.[1] as Array<string | null> | undefined) ?? [];
      const heard = r[2 * i + 1]?.[1] as string | null | undefined;
      if (state !== "pending" && state !== "idle" && state !== "running") return;
      out.push({
        pilotId,
        state,
        ...(batchId ? { batchId } : {}),
        submittedAt: Number(submittedAt ?? 0),
        ...(heard !== null && heard !== undefined ? { heardAt: Number(heard) } : {}),
      });
    });
    return out;
  }

  /** Undoes `recordSubmitted` for pilots the batch system refused: they never existed. */
  async forgetSubmitted(queue: string, pilotIds: readonly string[]): Promise<void> {
    if (pilotIds.length === 0) return;
    const q = this.keys.queue(queue);
    const m = this.redis.multi();
    for (const id of pilotIds) {
      m.del(this.keys.pilot(id));
      m.srem(q.pending, id);
      m.zrem(q.alive, id);
      m.zrem(q.heard, id);
      m.zrem(q.submits, id);
    }
    m.hincrby(q.counts, "submitted", -pilotIds.length);
    m.hincrby(q.counts, "submitFailures", pilotIds.length);
    await m.exec();
  }

  /**
   * Applies one census message. Pilots this factory did not submit are `unknown` and change nothing;
   * a census without the proof the pilot was registered with is `refused`, counted, and changes
   * nothing else (anyone holding the pilots' NATS identity can name any pilot). A pilot registered
   * without a proof (by a factory older than it) is believed on its id, as before.
   */
  async applyCensus(msg: PilotCensus, nowMs: number): Promise<CensusOutcome> {
    if (msg.factoryId !== undefined && msg.factoryId !== this.factoryId) return "unknown";
    const [queue, proof] = await this.redis.hmget(this.keys.pilot(msg.pilotId), "queue", "proof");
    if (queue === null) return "unknown";
    if (proof !== null && !proofHolds(proof, msg.proof, this.proofHash)) {
      await this.redis.hincrby(this.keys.queue(queue).counts, "censusRefused", 1);
      return "refused";
    }
    const held = msg.heldReports ?? 0;
    // A pilot holding reports takes no new job until they are out (agents/pilot/pilot.ts): busy,
    // not free capacity, whatever state it names. Counted as running, it keeps its slot under
    // maxRunning and leaves the waiting jobs to pilots that can take them, as Harvester counts a
    // worker still finishing its job as running rather than ready.
    const state = msg.state === "exited" ? "exited" : held > 0 ? "running" : msg.state === "starting" ? "idle" : msg.state;
    const prev = await this.transition(this.keys.queue(queue), msg.pilotId, state, msg.jobsDone + (msg.jobsFailed ?? 0), msg.emptyAdverts, nowMs, "census", held);
    if (prev === "unknown") return "unknown";
    if (prev === "late") return "late";
    return "applied";
  }

  /**
   * Marks as exited (lost) every pilot of the queue submitted before `submittedBeforeMs` that has
   * not reported its exit: killed by the batch system, its node gone, or never started. A pilot
   * still holding reports and heard from since `heardSinceMs` is spared: it outlives its lifetime
   * on purpose (it does not exit until RabbitMQ has its reports), and giving it up would count a
   * live pilot as missed and hide why it waits; the batch system's view and census expiry
   * (factory.ts reconcile) still end it when it is really gone.
   */
  async reapLost(queue: string, submittedBeforeMs: number, nowMs: number, heardSinceMs = Number.POSITIVE_INFINITY): Promise<number> {
    const q = this.keys.queue(queue);
    const old = await this.redis.zrangebyscore(q.alive, "-inf", submittedBeforeMs);
    let ids = old;
    if (old.length > 0 && Number.isFinite(heardSinceMs)) {
      const m = this.redis.multi();
      for (const id of old) {
        m.hget(this.keys.pilot(id), "heldReports");
        m.zscore(q.heard, id);
      }
      const r = (await m.exec()) ?? [];
      ids = old.filter((_, i) => {
        const held = Number(r[2 * i]?.[1] ?? 0) || 0;
        const heard = r[2 * i + 1]?.[1];
        return !(held > 0 && heard !== null && heard !== undefined && Number(heard) >= heardSinceMs);
      });
    }
    let reaped = 0;
    for (const id of ids) {
      const prev = await this.transition(q, id, "exited", 0, 0, nowMs, "lost");
      if (prev === "unknown") await this.redis.zrem(q.alive, id);
      else if (prev !== "late") reaped++;
    }
    return reaped;
  }

  /** Marks pilots whose process is known to be gone as exited (lost) unless their census said so first. */
  async markLost(queue: string, pilotIds: readonly string[], nowMs: number): Promise<number> {
    const q = this.keys.queue(queue);
    let marked = 0;
    for (const id of pilotIds) {
      const prev = await this.transition(q, id, "exited", 0, 0, nowMs, "lost");
      if (prev === "unknown") await this.redis.multi().zrem(q.alive, id).zrem(q.heard, id).exec();
      else if (prev !== "late") marked++;
    }
    return marked;
  }

  async counts(queue: string, nowMs: number): Promise<QueueCensus> {
    const q = this.keys.queue(queue);
    const r = await this.redis
      .multi()
      .scard(q.pending)
      .scard(q.idle)
      .scard(q.running)
      .hmget(q.counts, "submitted", "exited", "empty", "lost", "submitFailures", "appeared", "missedPending", "censusRefused")
      .zcount(q.submits, `(${nowMs - MINUTE_MS}`, "+inf")
      .exec();
    const at = (i: number): unknown => r?.[i]?.[1];
    const n = (v: unknown): number => Math.max(0, Number(v ?? 0) || 0);
    const c = (at(3) as Array<string | null> | undefined) ?? [];
    return {
      pending: n(at(0)),
      idle: n(at(1)),
      running: n(at(2)),
      submitted: n(c[0]),
      exited: n(c[1]),
      emptyPilots: n(c[2]),
      lost: n(c[3]),
      submitFailures: n(c[4]),
      appeared: n(c[5]),
      missedPending: n(c[6]),
      censusRefused: n(c[7]),
      ratePerMin: n(at(4)),
    };
  }

  /** One pilot's record (queue, site, state, submittedAt, jobs, emptyAdverts, heldReports, cause), or undefined. */
  async pilot(pilotId: string): Promise<Record<string, string> | undefined> {
    const h = await this.redis.hgetall(this.keys.pilot(pilotId));
    return Object.keys(h).length ? h : undefined;
  }
}

/** A pilot as `wms pilot list` shows it: the last word its factory has of it. */
export interface PilotRow {
  readonly pilotId: string;
  readonly factoryId: string;
  readonly queue: string;
  readonly site: string;
  readonly state: "pending" | "idle" | "running" | "exited";
  /** Jobs run (done + failed). */
  readonly jobs: number;
  readonly emptyAdverts: number;
  /** Reports it holds in memory (RabbitMQ away, spool unwritable): it takes no new job until they are out. */
  readonly heldReports: number;
  readonly submittedAt: number;
  readonly updatedAt: number;
  /** `lost` when it was given up without an exit census. */
  readonly cause?: string;
}

/** Index entries looked at per pruning: the oldest ones, whose records are the first to expire. */
const PRUNE_BATCH = 200;

/**
 * Drops from a site's index the oldest pilots whose records are gone (exited a day ago, or refused
 * by the batch system), so the index holds what `wms pilot list` can show and stays bounded.
 */
async function pruneSiteIndex(redis: RedisClient, keys: FactoryKeys, site: string): Promise<void> {
  const ids = await redis.zrange(keys.sitePilots(site), 0, PRUNE_BATCH - 1);
  if (ids.length === 0) return;
  const m = redis.multi();
  for (const id of ids) m.exists(keys.pilot(id));
  const r = (await m.exec()) ?? [];
  const gone = ids.filter((_, i) => r[i]?.[1] === 0);
  if (gone.length > 0) await redis.zrem(keys.sitePilots(site), ...gone);
}

/**
 * Every pilot any factory of the namespace knows (live ones, and exited ones for a day), newest
 * first. Read through each factory's per-site index (its `sites` set, or the one site asked for),
 * never by scanning the key space: a SCAN walks every key of the deployment (and on a Redis
 * Cluster only one node's).
 */
export async function listPilots(redis: RedisClient, names: WireNames, filter: { readonly site?: string; readonly state?: string } = {}): Promise<PilotRow[]> {
  const rows: PilotRow[] = [];
  const n = (v: string | undefined): number => Number(v ?? 0) || 0;
  for (const factoryId of await knownFactories(redis, names)) {
    const keys = factoryKeys(names, factoryId);
    const sites = filter.site !== undefined ? [filter.site] : await redis.smembers(keys.sites);
    for (const site of sites) {
      const ids = await redis.zrevrange(keys.sitePilots(site), 0, -1);
      if (ids.length === 0) continue;
      const m = redis.multi();
      for (const id of ids) m.hgetall(keys.pilot(id));
      const r = (await m.exec()) ?? [];
      ids.forEach((pilotId, i) => {
        const h = (r[i]?.[1] as Record<string, string> | undefined) ?? {};
        const state = h.state;
        if (state !== "pending" && state !== "idle" && state !== "running" && state !== "exited") return;
        if (filter.state !== undefined && state !== filter.state) return;
        rows.push({
          pilotId,
          factoryId,
          queue: h.queue ?? "",
          site: h.site ?? site,
          state,
          jobs: n(h.jobs),
          emptyAdverts: n(h.emptyAdverts),
          heldReports: n(h.heldReports),
          submittedAt: n(h.submittedAt),
          updatedAt: n(h.updatedAt ?? h.submittedAt),
          ...(h.cause ? { cause: h.cause } : {}),
        });
      });
    }
  }
  return rows.sort((a, b) => b.submittedAt - a.submittedAt || a.pilotId.localeCompare(b.pilotId));
}
