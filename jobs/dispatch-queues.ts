// Dispatch: per site, one ready set of job ids per autocluster, the leases of claimed jobs, and the
// checks that settle leases nobody renews. Everything of a site lives in its site shard (keys.ts),
// so a claim is one Lua step in one hash slot; the job records live in their task shards
// (job-store.ts). See README.md for why this replaced one BullMQ queue and Worker per (site,
// autocluster), and for the ordering argument between the two steps of a claim.
import { ADVERT_ANSWER_WAIT_MS, ERR, type JobSpec, type WireNames } from "../schemas/index.ts";
import { isCluster, replicaWaiter, type RedisClient } from "../platform/redis-client.ts";
import { randomHex, sealReportKey, type PilotTokenStore, type PilotTokenUse, type ServiceSealer } from "../security/index.ts";
import { JobStore, type Fence } from "./job-store.ts";
import { CONFIRMED_STATE, LEASED_STATES, MAX_UNCONFIRMED_GIVE_BACKS, UNCONFIRMED_STATE, type JobState } from "./lifecycle.ts";
import { AUTOCLUSTER_ID_RE, autoclusterId, autoclusterKey, type AutoclusterKey } from "./autocluster.ts";
import { jobScript } from "./job-scripts.ts";
import { jobKeys, type JobKeys } from "./keys.ts";

export interface DispatchQueuesOptions {
  /** The Redis client for everything here (a single server or a Cluster client). */
  readonly redis: RedisClient;
  readonly names: WireNames;
  /** How long a claim lives without a heartbeat (the lease). */
  readonly lockMs: number;
  /** How often each site's lease check runs; a silent pilot's job is back in its queue within lockMs + 2 × this. */
  readonly stalledIntervalMs: number;
  /**
   * How long a job whose payload ended (holding/transferring) waits for its final report before it
   * fails with JOB_HOLDING_TIMEOUT; checked with the lease checks. Default 6 hours.
   */
  readonly holdingTimeoutMs?: number;
  /** Background failures (lease checks) are reported here rather than thrown at nobody. */
  readonly onError?: (err: Error, context: string) => void;
  /**
   * Seals the report key each claim binds (security/report-key-seal.ts), so the agents can tell it
   * from one written into the record by anyone else. The matchmaker's; without it claims bind keys
   * the agents refuse.
   */
  readonly reportKeySealer?: ServiceSealer;
  /**
   * On a Redis Cluster: before a claim is handed out, wait up to this long for a replica of each
   * master it wrote to (its site shard and its task shard) to hold it (WAIT 1). Replication is
   * asynchronous: a master that dies after acknowledging a claim but before passing it on leaves its
   * promoted replica without it, and the job is handed out a second time. 0 or unset: no wait (a
   * single server has no replica to wait for). A claim whose master stops answering meanwhile
   * fails (not handed out: its lease runs out); one the replica did not acknowledge in time is
   * handed out (a lagging or absent replica must not stop dispatch).
   */
  readonly claimReplicaWaitMs?: number;
  /**
   * A claim's first lease, until its pilot confirms it (lifecycle.ts, UNCONFIRMED_STATE): the
   * pilot's first heartbeat, sent as soon as its envelope verifies, renews it to `lockMs`. Default
   * CLAIM_CONFIRM_MS, never more than `lockMs`.
   */
  readonly confirmMs?: number;
}

/**
 * How long a claim may stand unconfirmed before the lease check gives it back: twice the wait of
 * the advert it answers. A pilot that got its envelope confirms it within a heartbeat's round trip;
 * one whose reply was lost (NATS away, the pilot gone) never does, and its job should not wait a
 * whole lease (`jobs.leaseSec`, 300 s by default) for nothing.
 */
export const CLAIM_CONFIRM_MS = 2 * ADVERT_ANSWER_WAIT_MS;

/** A job taken off its ready set for one pilot: leased at its site, moved `activated → sent` in its record. */
export interface ClaimedJob {
  readonly spec: JobSpec;
  readonly lockToken: string;
  readonly site: string;
  readonly autocluster: string;
  /** The attempt this dispatch is (the JobStore's count, 1-based). */
  readonly attempt: number;
}

/** The job a claim took, as its record says once the claim stands. */
export interface ClaimTarget {
  readonly jobId: string;
  readonly taskId: string;
  readonly userDn: string;
  readonly attempt: number;
}

/** @deprecated the ready sets hold job ids only; kept for callers that named the old entry type. */
export type QueueEntry = Omit<ClaimTarget, "jobId">;

/** Who a claim goes to: the pilot, and the report key it advertised (security/report-signing.ts), bound to the attempt by the claim's own step. */
export interface ClaimHolder {
  readonly pilotId: string;
  readonly reportKey?: string;
}

/**
 * A pilot token's use made in the claim's own step (use-claim-6.lua): one round trip for both. A
 * token refused claims nothing, and the claim rejects with the store's coded error.
 */
export interface ClaimTokenUse {
  readonly use: PilotTokenUse;
  readonly store: Pick<PilotTokenStore, "refusal">;
}

/** What the lease check did with one job, for logs and metrics. */
export type StallOutcome = "requeued" | "given-back" | "failed" | "dropped" | "skipped";

/** One lease a batched heartbeat renews. */
export interface LeaseRef {
  readonly jobId: string;
  readonly leaseToken: string;
}

const DEFAULT_HOLDING_TIMEOUT_MS = 6 * 3600_000;
/** Entries per ZSCAN / HSCAN page of a site's queues (the reconciler's read): each page a short step for Redis. */
const SCAN_COUNT = 1000;
/** Expired leases settled per site per round; the rest wait for the next round. */
const EXPIRED_PER_ROUND = 200;

const claimScript = jobScript("claim-5", { batched: true });
const claimMoveScript = jobScript("claim-move-5", { batched: true });
const useClaimScript = jobScript("use-claim-6", { batched: true });
const useClaimMoveScript = jobScript("use-claim-move-6", { batched: true });
const enqueueScript = jobScript("enqueue-5");
const requeueScript = jobScript("requeue-6");
const releaseScript = jobScript("release-3", { batched: true });
const renewScript = jobScript("renew-2", { batched: true });
const expiredScript = jobScript("expired-2");
const removeScript = jobScript("remove-3");
const shapesScript = jobScript("shapes-2");
const leadScript = jobScript("lead-1", { batched: true });
const checkLeadScript = jobScript("check-lead-3", { batched: true });

/** Slots the pilot token's use takes first in a claim's ARGV (use-claim-6.lua, use-claim-move-6.lua): site, now, pilot id. */
const TOKEN_ARGS = 3;

/**
 * A claim's ARGV of `size` slots after the token's three when it is used, those three filled (one
 * array of the size sent: this is the per-match path). The claim's own begin at
 * `args.length - size`.
 */
function claimArgs(tokenUse: ClaimTokenUse | undefined, size: number): Array<string | number> {
  if (tokenUse === undefined) return new Array<string | number>(size);
  const args = new Array<string | number>(TOKEN_ARGS + size);
  args[0] = tokenUse.use.args[0];
  args[1] = tokenUse.use.args[1];
  args[2] = tokenUse.use.args[2];
  return args;
}

/**
 * KEYS and ARGV without the token's slots, for a retry past a job that must not run: the token is
 * spent by the first try only (a rare path: copied once).
 */
function withoutTokenSlots(keys: string[], args: Array<string | number>): [string[], Array<string | number>] {
  return [keys.slice(1), args.slice(TOKEN_ARGS)];
}

/**
 * The lease token names the job's autocluster and site, so heartbeats, complete and release find
 * the site shard with no lookup; a forged token names a lease it does not hold.
 */
export function makeLockToken(site: string, autocluster: string): string {
  return `${autocluster}.${randomHex(12)}.${site}`;
}

export function parseLockToken(token: string): { site: string; autocluster: string } | undefined {
  const a = token.indexOf(".");
  const b = a < 0 ? -1 : token.indexOf(".", a + 1);
  if (a < 0 || b < 0) return undefined;
  const autocluster = token.slice(0, a);
  const site = token.slice(b + 1);
  if (!AUTOCLUSTER_ID_RE.test(autocluster) || !/^[A-Za-z0-9_.-]{1,64}$/.test(site)) return undefined;
  return { site, autocluster };
}

export class DispatchQueues {
  private readonly redis: RedisClient;
  private readonly keys: JobKeys;
  private readonly jobs: JobStore;
  /** This instance's name when it runs a site's lease check (lead-1.lua). */
  private readonly checkerId = randomHex(8);
  private checkTimer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private onStalledOutcome: ((jobId: string, outcome: StallOutcome) => void) | undefined;
  private closed = false;
  /** WAIT on the master of a key's slot (claimReplicaWaitMs), shared by the claims of one turn. */
  private readonly replicated: ((key: string) => Promise<number>) | undefined;
  /** A single server: a claim and its record's move run as one script (claim-move-5.lua). */
  private readonly oneServer: boolean;
  /** A claim's first lease, until its pilot confirms it (options `confirmMs`). */
  private readonly confirmMs: number;

  constructor(private readonly opts: DispatchQueuesOptions) {
    this.redis = opts.redis;
    this.keys = jobKeys(opts.names);
    this.jobs = new JobStore(opts.redis, opts.names);
    const waitMs = opts.claimReplicaWaitMs ?? 0;
    this.replicated = waitMs > 0 && isCluster(opts.redis) ? replicaWaiter(opts.redis, 1, waitMs) : undefined;
    this.oneServer = !isCluster(opts.redis);
    this.confirmMs = Math.min(opts.lockMs, opts.confirmMs ?? CLAIM_CONFIRM_MS);
  }

  // ---- intake side ------------------------------------------------------------------------------

  /**
   * Puts jobs on their site's autocluster ready sets (one script per (site, autocluster) and 2,000
   * jobs), recording the autocluster in the site's index in the same step. A job id already waiting
   * or leased at its site is not queued twice.
   */
  async enqueue(specs: readonly JobSpec[]): Promise<void> {
    const groups = new Map<string, { site: string; ac: string; key: AutoclusterKey; ids: string[] }>();
    for (const spec of specs) {
      const key = autoclusterKey(spec);
      const ac = autoclusterId(key);
      const g = groups.get(`${spec.site}\n${ac}`);
      if (g) g.ids.push(spec.jobId);
      else groups.set(`${spec.site}\n${ac}`, { site: spec.site, ac, key, ids: [spec.jobId] });
    }
    const sites = new Set([...groups.values()].map((g) => g.site));
    if (sites.size > 0) await this.redis.sadd(this.keys.sites, ...sites);
    await Promise.all(
      [...groups.values()].map(async (g) => {
        const sk = this.keys.site(g.site);
        const json = JSON.stringify(g.key);
        for (let i = 0; i < g.ids.length; i += 2000) {
          await enqueueScript.run(this.redis, [sk.ready(g.ac), sk.live, sk.n, sk.held, sk.acs], [g.ac, json, ...g.ids.slice(i, i + 2000)]);
        }
      }),
    );
  }

  /** Cancel while queued: true if the job was waiting and is gone; false if claimed or unknown. */
  async remove(jobId: string): Promise<boolean> {
    const job = await this.jobs.getJob(jobId);
    if (!job) return false;
    return this.dropWaiting(job.site || job.spec.site, autoclusterId(autoclusterKey(job.spec)), jobId);
  }

  /** Jobs waiting at a site (all its autoclusters). Kept as a counter; `recountWaiting` repairs drift. */
  async waitingCount(site: string): Promise<number> {
    return Math.max(0, Number((await this.redis.hget(this.keys.site(site).n, "waiting")) ?? 0));
  }

  /** Every site's waiting counter (factory and monitor): one read per site shard. */
  async waitingCounts(): Promise<Record<string, number>> {
    const sites = await this.sites();
    const counts = await Promise.all(sites.map((s) => this.waitingCount(s)));
    return Object.fromEntries(sites.map((s, i) => [s, counts[i]]));
  }

  /** Recomputes a site's counter from its ready sets (a crash between two steps can skew it). */
  async recountWaiting(site: string): Promise<number> {
    const sk = this.keys.site(site);
    const acs = await this.redis.hkeys(sk.acs);
    const sizes = await Promise.all(acs.map((ac) => this.redis.zcard(sk.ready(ac))));
    const n = sizes.reduce((a, b) => a + b, 0);
    await this.redis.hset(sk.n, "waiting", String(n));
    return n;
  }

  async queueWaiting(site: string, autocluster: string): Promise<number> {
    return this.redis.zcard(this.keys.site(site).ready(autocluster));
  }

  /** Moves a site's waiting counter by `by` (the reconciler's repair, a delta for the same reason as its counts). */
  async adjustWaiting(site: string, by: number): Promise<void> {
    if (by !== 0) await this.redis.hincrby(this.keys.site(site).n, "waiting", by);
  }

  /** Ids waiting in one ready set (not claimed): the reconciler compares them with the records. */
  async waitingIds(site: string, autocluster: string): Promise<string[]> {
    return this.redis.zrange(this.keys.site(site).ready(autocluster), 0, -1);
  }

  /** Where a job is at its site: `waiting` in a ready set, `active` under a lease, `unknown` neither. */
  async entryState(spec: JobSpec): Promise<"waiting" | "active" | "unknown"> {
    return this.entryAt(spec.site, autoclusterId(autoclusterKey(spec)), spec.jobId);
  }

  /** `entryState` of a job whose site and autocluster are known. */
  async entryAt(site: string, autocluster: string, jobId: string): Promise<"waiting" | "active" | "unknown"> {
    const sk = this.keys.site(site);
    const [score, token] = await Promise.all([this.redis.zscore(sk.ready(autocluster), jobId), this.redis.hget(sk.held, jobId)]);
    return score !== null ? "waiting" : token !== null ? "active" : "unknown";
  }

  /**
   * Every id waiting at a site, a page at a time per non-empty ready set (the reconciler's read of
   * the queues). ZSCAN rather than one ZRANGE: a ready set of a million ids is read without holding
   * Redis up, and an id that waits throughout is seen (claims popping the head meanwhile shift no
   * page past it, as they would an index range); an id may be seen twice.
   */
  async *waitingPages(site: string, count = SCAN_COUNT): AsyncGenerator<{ readonly autocluster: string; readonly ids: string[] }> {
    const sk = this.keys.site(site);
    for (const ac of Object.keys(await this.autoclusters(site))) {
      let cursor = "0";
      do {
        const [next, flat] = await this.redis.zscan(sk.ready(ac), cursor, "COUNT", count);
        cursor = next;
        const ids: string[] = [];
        for (let i = 0; i < flat.length; i += 2) ids.push(flat[i]);
        if (ids.length > 0) yield { autocluster: ac, ids };
      } while (cursor !== "0");
    }
  }

  /** Every lease token a site holds, job id → token (HSCAN pages, as `waitingPages`). */
  async heldTokens(site: string, count = SCAN_COUNT): Promise<Map<string, string>> {
    const held = this.keys.site(site).held;
    const out = new Map<string, string>();
    let cursor = "0";
    do {
      const [next, flat] = await this.redis.hscan(held, cursor, "COUNT", count);
      cursor = next;
      for (let i = 0; i < flat.length; i += 2) out.set(flat[i], flat[i + 1]);
    } while (cursor !== "0");
    return out;
  }

  /** Puts back the entry of a job the store says is waiting but whose ready set lost it. */
  async restoreEntry(spec: JobSpec): Promise<void> {
    await this.enqueue([spec]);
  }

  /** Drops a waiting entry that must not run; false when it is claimed or gone meanwhile. */
  async dropWaiting(site: string, autocluster: string, jobId: string): Promise<boolean> {
    const sk = this.keys.site(site);
    return (await removeScript.run(this.redis, [sk.ready(autocluster), sk.live, sk.n], [jobId, autocluster])) === 1;
  }

  /** The lease token a site holds for a job, if any (the reconciler's lease check). */
  async leaseOf(site: string, jobId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.site(site).held, jobId)) ?? undefined;
  }

  /**
   * Gives a leased job whose lease its site lost (a crash without fsync) a lease that has already
   * run out, so the next lease check settles it as for a silent pilot.
   */
  async restoreLease(site: string, jobId: string, leaseToken: string): Promise<void> {
    const sk = this.keys.site(site);
    await this.redis.pipeline().hsetnx(sk.held, jobId, leaseToken).zadd(sk.lease, "NX", Date.now(), jobId).exec();
  }

  /** Every site that ever had a job queued. */
  async sites(): Promise<string[]> {
    return (await this.jobs.knownSites()).filter((s) => s !== "");
  }

  /** The site's shape index: its non-empty autoclusters, id → the attributes their jobs share. */
  async autoclusters(site: string): Promise<Record<string, AutoclusterKey>> {
    const sk = this.keys.site(site);
    const flat = (await shapesScript.run(this.redis, [sk.acs, sk.live], [])) as string[];
    const out: Record<string, AutoclusterKey> = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]] = JSON.parse(flat[i + 1]) as AutoclusterKey;
    return out;
  }

  // ---- matchmaker side --------------------------------------------------------------------------

  /**
   * Takes the next job of the first non-empty ready set among `autoclusters` (in that order) for
   * `pilotId` and moves it `activated → sent`. Jobs that must not run (cancelled meanwhile, final,
   * no record) are dropped and the next one is tried. Undefined when every ready set is empty.
   *
   * Two steps, in this order: the claim script (site shard) moves the id to the site's leases under
   * a fresh token; then the record's move (task shard) writes that token into the record. A crash
   * in between leaves a lease whose record never moved: the lease check puts the entry back when it
   * runs out, with no new attempt.
   *
   * `tokenUse`: a pilot token's use, made first in the claim's own step (its record is in the site's
   * shard): a token refused claims nothing and the claim rejects with its coded error; a token used
   * is spent whether or not a job was taken, as a use on its own would be.
   */
  // Not async itself: it hands over the promise of the claim's one path (an async wrapper cost a
  // promise, its frame and a resolution job per match).
  claim(site: string, autoclusters: string | readonly string[], holder: string | ClaimHolder, tokenUse?: ClaimTokenUse): Promise<ClaimedJob | undefined> {
    const { pilotId, reportKey = "" } = typeof holder === "string" ? { pilotId: holder } : holder;
    // The autoclusters are copied into ARGV before the first wait: the caller may change its list
    // while this claim waits on Redis (the plumbing floor drops empty autoclusters from it), and a
    // retry below must send the same autoclusters as the ready sets it names, or the script reads
    // an autocluster id past the end of ARGV.
    const acs = typeof autoclusters === "string" ? [autoclusters] : autoclusters;
    const n = acs.length;
    if (n === 0 && tokenUse === undefined) return Promise.resolve(undefined);
    const sk = this.keys.site(site);
    // KEYS and ARGV filled in place (no spread or map copies: this is the per-match path). With a
    // token's use, its key and arguments come first (use-claim-6.lua), in slots kept for them.
    const k = tokenUse === undefined ? 0 : 1;
    const keys = new Array<string>(k + 5 + n);
    if (tokenUse !== undefined) keys[0] = tokenUse.use.key;
    keys[k] = sk.lease;
    keys[k + 1] = sk.held;
    keys[k + 2] = sk.live;
    keys[k + 3] = sk.n;
    keys[k + 4] = sk.states;
    for (let i = 0; i < n; i++) keys[k + 5 + i] = sk.ready(acs[i]);
    // On a single server the record's move runs in the claim's own script: one round trip and one
    // batching turn fewer per match than the two steps, which a Redis Cluster needs (two slots).
    if (this.oneServer) return this.claimInOneStep(site, keys, acs, pilotId, reportKey, tokenUse);
    return this.claimInTwoSteps(site, keys, acs, pilotId, reportKey, tokenUse);
  }

  /** `claim` on a Redis Cluster: the claim in the site's slot, then the record's move in the task's. */
  private async claimInTwoSteps(site: string, keys: string[], acs: readonly string[], pilotId: string, reportKey: string, tokenUse?: ClaimTokenUse): Promise<ClaimedJob | undefined> {
    const sk = this.keys.site(site);
    const n = acs.length;
    // ARGV: the token's TOKEN_ARGS when it is used (use-claim-6.lua), then claim-5.lua's.
    let args = claimArgs(tokenUse, 3 + n);
    let a = args.length - 3 - n;
    args[a + 2] = site;
    for (let i = 0; i < n; i++) args[a + 3 + i] = acs[i];
    for (let tries = 0; ; tries++) {
      // The token is used by the first try only: a retry (the record had moved on) spends no more,
      // and claims with the claim's own KEYS and ARGV (a rare path: copied once, without the token's).
      const withToken = tries === 0 ? tokenUse : undefined;
      if (tries === 1 && tokenUse !== undefined) {
        [keys, args] = withoutTokenSlots(keys, args);
        a = 0;
      }
      args[a] = Date.now() + this.confirmMs;
      args[a + 1] = randomHex(12);
      const res = (await (withToken ? useClaimScript.run(this.redis, keys, args) : claimScript.run(this.redis, keys, args))) as string[];
      if (withToken && res[0] === "") throw await withToken.store.refusal(withToken.use, res.slice(1));
      if (res.length < 3) return undefined;
      const [jobId, ac, token] = res;
      // Always written, empty when unsealed, so no earlier attempt's seal stays on the record.
      const sealer = this.opts.reportKeySealer;
      const reportKeySeal = reportKey !== "" && sealer ? sealReportKey(sealer, { jobId, leaseToken: token, reportKey }) : "";
      const moved = await this.jobs.transition(jobId, "sent", ["activated"], { pilotId, leaseToken: token, reportKey, reportKeySeal }, Date.now(), undefined, { siteCounted: true });
      if (moved.moved && moved.spec) {
        const attempt = moved.attempt;
        // The spec is the claim's own object, made from the record by this move: the record's
        // attempt is written into it rather than into a copy of its two dozen fields.
        const spec = moved.spec;
        spec.attempt = attempt;
        // Awaited only on a cluster that waits for replicas: an async call per claim otherwise.
        if (this.replicated) await this.claimReplicated(sk.lease, spec.taskId);
        return { spec, lockToken: token, site, autocluster: ac, attempt };
      }
      // Its record is not waiting (cancelled or final meanwhile, or none): the entry must not run,
      // and the claim's counts are undone.
      await releaseScript.run(this.redis, [sk.lease, sk.held, sk.states], [jobId, token, "1"]);
    }
  }

  /**
   * `claim` on a single server: claim-move-5.lua takes the job and moves its record in one step,
   * with the same outcome as the two steps in turn (the same Lua, composed). The report key's seal
   * covers the job id, so it is written after (bind-seal-1.lua), and is in place before the claim
   * is returned (and so before any envelope leaves).
   */
  private async claimInOneStep(site: string, keys: string[], acs: readonly string[], pilotId: string, reportKey: string, tokenUse?: ClaimTokenUse): Promise<ClaimedJob | undefined> {
    const sealer = reportKey !== "" ? this.opts.reportKeySealer : undefined;
    const n = acs.length;
    const patch = { pilotId, reportKey, reportKeySeal: "" };
    // ARGV (use-claim-move-6.lua / claim-move-5.lua): the token's TOKEN_ARGS when it is used, the number of
    // claim-5 arguments, claim-5's ARGV, then the record's move; one array of the size they take.
    const size = 4 + n + this.jobs.claimMoveArgsLength(patch);
    let args = claimArgs(tokenUse, size);
    let a = args.length - size;
    args[a] = 3 + n;
    args[a + 3] = site;
    for (let i = 0; i < n; i++) args[a + 4 + i] = acs[i];
    for (let tries = 0; ; tries++) {
      // The token is used by the first try only (use-claim-move-6.lua): a retry spends no more, and
      // claims with KEYS and ARGV past the token's (a rare path: copied once).
      const withToken = tries === 0 ? tokenUse : undefined;
      if (tries === 1 && tokenUse !== undefined) {
        [keys, args] = withoutTokenSlots(keys, args);
        a = 0;
      }
      const now = Date.now();
      args[a + 1] = now + this.confirmMs;
      args[a + 2] = randomHex(12);
      this.jobs.writeClaimMoveArgs(args, a + 4 + n, patch, now);
      const res = (await (withToken ? useClaimMoveScript.run(this.redis, keys, args) : claimMoveScript.run(this.redis, keys, args))) as unknown[];
      if (withToken && res[0] === "") throw await withToken.store.refusal(withToken.use, res.slice(1));
      if (res.length < 3) return undefined;
      const jobId = res[0] as string;
      const ac = res[1] as string;
      const token = res[2] as string;
      // A promise only the first time this matchmaker sees the task (its template is read then).
      const movedNow = this.jobs.claimMoved(jobId, res, 3, now);
      const moved = movedNow instanceof Promise ? await movedNow : movedNow;
      if (moved.moved && moved.spec) {
        const attempt = moved.attempt;
        const spec = moved.spec;
        spec.attempt = attempt;
        if (sealer) {
          try {
            await this.jobs.bindReportKeySeal(jobId, token, sealReportKey(sealer, { jobId, leaseToken: token, reportKey }));
          } catch (e) {
            await this.unclaim({ spec, lockToken: token, site, autocluster: ac, attempt });
            throw e;
          }
        }
        return { spec, lockToken: token, site, autocluster: ac, attempt };
      }
      const sk = this.keys.site(site);
      await releaseScript.run(this.redis, [sk.lease, sk.held, sk.states], [jobId, token, "1"]);
    }
  }

  /**
   * With claimReplicaWaitMs: the claim's writes (the lease in the site shard, the
   * record's move in the task shard) are on a replica of each master before the job leaves.
   */
  private async claimReplicated(siteKey: string, taskId: string): Promise<void> {
    if (!this.replicated) return;
    await Promise.all([this.replicated(siteKey), this.replicated(this.keys.task(taskId).task)]);
  }

  /**
   * Gives a claimed job back (the matchmaker could not deliver it): `sent → activated` and back at
   * the head of its ready set, its attempt unchanged.
   */
  async unclaim(claimed: ClaimedJob): Promise<void> {
    await this.jobs.transition(claimed.spec.jobId, "activated", ["sent"], { pilotId: "", leaseToken: "" });
    await this.requeue(claimed.site, claimed.autocluster, claimed.spec.jobId, claimed.lockToken, false);
  }

  /**
   * Confirms a claim for the pilot that holds it (its heartbeat): the record `sent → starting` under
   * the claim's fence, unless it is past `sent` already (its `starting` report came first). True when
   * the claim stands confirmed for this fence; false when it was given back (or moved on) first, and
   * then the pilot must run nothing (lifecycle.ts, UNCONFIRMED_STATE).
   */
  async confirmClaim(jobId: string, fence: Fence, now = Date.now()): Promise<boolean> {
    const t = await this.jobs.transition(jobId, CONFIRMED_STATE, [UNCONFIRMED_STATE], { startedAt: now }, now, undefined, undefined, fence);
    if (t.moved) return true;
    if (t.stale) return false;
    const held = await this.jobs.checkFence(jobId, fence);
    return held.verdict === "current" && held.state !== undefined && held.state !== UNCONFIRMED_STATE;
  }

  /**
   * Gives back a claim no pilot confirmed: `sent → activated` under the claim's own fence, attempt
   * unchanged (nothing ran: a pilot runs nothing unconfirmed), then back at the head of its ready
   * set. False when its pilot confirmed it first (or the record moved on): the claim stands.
   * `counted`: the lease check's give-back, which counts towards MAX_UNCONFIRMED_GIVE_BACKS
   * (`unconfirmedBefore` is the record's count when it was read).
   */
  async giveBack(claimed: Pick<ClaimedJob, "lockToken" | "site" | "autocluster" | "attempt"> & { readonly jobId: string }, counted?: { readonly unconfirmedBefore: number }): Promise<boolean> {
    const patch = { pilotId: "", leaseToken: "", ...(counted && { unconfirmed: counted.unconfirmedBefore + 1 }) };
    const t = await this.jobs.transition(claimed.jobId, "activated", [UNCONFIRMED_STATE], patch, Date.now(), undefined, { leaseCheck: true }, { attempt: claimed.attempt, leaseToken: claimed.lockToken });
    if (!t.moved) return false;
    await this.requeue(claimed.site, claimed.autocluster, claimed.jobId, claimed.lockToken, false);
    return true;
  }

  private async requeue(site: string, ac: string, jobId: string, token: string, undoClaimCounts: boolean): Promise<boolean> {
    const sk = this.keys.site(site);
    return (await requeueScript.run(this.redis, [sk.ready(ac), sk.live, sk.n, sk.lease, sk.held, sk.states], [jobId, token, ac, undoClaimCounts ? "1" : "0"])) === 1;
  }

  /** Heartbeat: pushes the lease out by `ms`. False when the token does not hold the lease any more. */
  async extendLock(jobId: string, lockToken: string, ms: number): Promise<boolean> {
    return (await this.renewLeases([{ jobId, leaseToken: lockToken }], ms))[0];
  }

  /**
   * Renews many leases at once (a pilot's batched heartbeat): one script call per site shard, each
   * lease only if its token still holds the job. Answers in the order asked; a token that names no
   * site is false.
   */
  async renewLeases(batch: readonly LeaseRef[], ms = this.opts.lockMs): Promise<boolean[]> {
    const out: boolean[] = batch.map(() => false);
    const bySite = new Map<string, number[]>();
    batch.forEach((l, i) => {
      const where = parseLockToken(l.leaseToken);
      if (!where) return;
      const list = bySite.get(where.site);
      if (list) list.push(i);
      else bySite.set(where.site, [i]);
    });
    const deadline = Date.now() + ms;
    await Promise.all(
      [...bySite].map(async ([site, idx]) => {
        const sk = this.keys.site(site);
        const args: Array<string | number> = [deadline];
        for (const i of idx) args.push(batch[i].jobId, batch[i].leaseToken);
        const res = (await renewScript.run(this.redis, [sk.lease, sk.held], args)) as number[];
        idx.forEach((i, n) => (out[i] = res[n] === 1));
      }),
    );
    return out;
  }

  /** The job is done with (finished): its lease ends. False when the lease is not this token's. */
  async complete(jobId: string, lockToken: string): Promise<boolean> {
    return this.release(jobId, lockToken);
  }

  /**
   * Ends the lease of a job that failed or is being retried; the job-state agent then calls
   * `enqueue([nextSpec])` for a retry. False when the lease is not this token's (e.g. already requeued).
   */
  async release(jobId: string, lockToken: string): Promise<boolean> {
    const where = parseLockToken(lockToken);
    if (!where) return false;
    const sk = this.keys.site(where.site);
    return (await releaseScript.run(this.redis, [sk.lease, sk.held, sk.states], [jobId, lockToken, "0"])) === 1;
  }

  // ---- lease and holding checks -----------------------------------------------------------------

  /**
   * Runs the lease check (and the holding-timeout sweep) of every site, every `stalledIntervalMs`.
   * Every matchmaker may call this: per site shard, one of them holds the right to check for a few
   * intervals (lead-1.lua) and the others skip that site; the checks are idempotent besides.
   */
  async startStalledChecks(onOutcome?: (jobId: string, outcome: StallOutcome) => void): Promise<void> {
    if (this.checkTimer || this.closed) return;
    this.onStalledOutcome = onOutcome;
    const interval = Math.max(100, this.opts.stalledIntervalMs);
    this.checkTimer = setInterval(() => {
      if (this.checking || this.closed) return;
      this.checking = this.checkAll(interval)
        .catch((e: Error) => this.opts.onError?.(e, "lease check"))
        .finally(() => (this.checking = undefined));
    }, interval);
    this.checkTimer.unref();
  }

  private async checkAll(interval: number): Promise<void> {
    const sites = await this.sites();
    const leadMs = Math.max(1000, 3 * interval);
    await Promise.all(
      sites.map(async (site) => {
        const sk = this.keys.site(site);
        // A lease runs out only over time a checker was there to hear heartbeats (check-lead-3.lua).
        if ((await checkLeadScript.run(this.redis, [sk.checker, sk.lease, sk.checked], [this.checkerId, leadMs, Date.now()])) !== 1) return;
        await this.checkSite(site).catch((e: Error) => this.opts.onError?.(e, `lease check of ${site}`));
      }),
    );
  }

  /**
   * Takes or keeps the right to run the reconciliation for `ms` (lead-1.lua): the holder keeps it
   * while it renews, so the same matchmaker keeps its cache of settled tasks warm.
   */
  async leadReconciliation(ms: number): Promise<boolean> {
    return (await leadScript.run(this.redis, [this.keys.reconciler], [this.checkerId, ms])) === 1;
  }

  /** One round of one site's checks: settles its run-out leases and fails its overdue holding jobs. */
  async checkSite(site: string, now = Date.now()): Promise<void> {
    const sk = this.keys.site(site);
    const flat = (await expiredScript.run(this.redis, [sk.lease, sk.held], [now, now + this.opts.lockMs, EXPIRED_PER_ROUND])) as string[];
    for (let i = 0; i < flat.length; i += 2) {
      const jobId = flat[i];
      const outcome = await this.settle(site, jobId, flat[i + 1]);
      this.onStalledOutcome?.(jobId, outcome);
    }
    for (const id of await this.jobs.failOverdueHolding(this.opts.holdingTimeoutMs ?? DEFAULT_HOLDING_TIMEOUT_MS, now, site)) this.onStalledOutcome?.(id, "failed");
  }

  /**
   * A lease ran out. If the record still holds it (its pilot went silent) the job goes back to its
   * ready set as a new attempt, or fails for good after its last allowed attempt
   * (PILOT_LOST_HEARTBEAT); the record's move is fenced by the lease token, so a report that moved
   * the job meanwhile wins. If the record never took the lease (a claim that crashed between its two
   * steps) the entry goes back as it was. Otherwise (payload ended and report in flight, final,
   * another attempt) the lease just ends: a holding job waits for its report or the holding timeout.
   */
  private async settle(site: string, jobId: string, token: string): Promise<StallOutcome> {
    const sk = this.keys.site(site);
    const ac = parseLockToken(token)?.autocluster;
    const rec = await this.jobs.getJob(jobId);
    const end = async (undo: boolean): Promise<StallOutcome> => ((await releaseScript.run(this.redis, [sk.lease, sk.held, sk.states], [jobId, token, undo ? "1" : "0"])) === 1 ? "dropped" : "skipped");
    if (!rec || !ac) return end(false);
    const fence = { attempt: rec.attempt, leaseToken: token };
    if (rec.leaseToken === token && rec.state === UNCONFIRMED_STATE && (rec.unconfirmed ?? 0) < MAX_UNCONFIRMED_GIVE_BACKS) {
      // No pilot confirmed the claim (its reply was lost, or its pilot refused the envelope or died
      // before its first heartbeat): nothing ran, so no attempt is spent.
      if (await this.giveBack({ jobId, lockToken: token, site, autocluster: ac, attempt: rec.attempt }, { unconfirmedBefore: rec.unconfirmed ?? 0 })) return "given-back";
      return "skipped";
    }
    if (rec.leaseToken === token && (LEASED_STATES as readonly JobState[]).includes(rec.state)) {
      if (rec.attempt >= rec.spec.maxAttempts) {
        const t = await this.jobs.transition(jobId, "failed", LEASED_STATES, { leaseToken: "", pilotId: "", errorCode: ERR.PILOT_LOST_HEARTBEAT, errorMessage: `the pilot stopped heartbeating on attempt ${rec.attempt}, the job's last allowed attempt` }, Date.now(), undefined, { leaseCheck: true }, fence);
        if (!t.moved) return "skipped";
        await end(false);
        return "failed";
      }
      const t = await this.jobs.transition(jobId, "activated", LEASED_STATES, { attempt: rec.attempt + 1, pilotId: "", leaseToken: "", errorCode: ERR.PILOT_LOST_HEARTBEAT, errorMessage: `the pilot of attempt ${rec.attempt} stopped heartbeating` }, Date.now(), undefined, { leaseCheck: true }, fence);
      if (!t.moved) return "skipped";
      await this.requeue(site, ac, jobId, token, false);
      return "requeued";
    }
    if (rec.state === "activated" && rec.leaseToken !== token && (rec.site || rec.spec.site) === site) {
      // Never moved by this claim: was it moved and then given back or retried (its history or the
      // record's own move counted it), or did the claim stop between its two steps (undo its counts)?
      const past = await this.jobs.attempts(jobId);
      const recorded = past.some((a) => a.leaseToken === token);
      return (await this.requeue(site, ac, jobId, token, !recorded)) ? "requeued" : "skipped";
    }
    return end(false);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    await this.checking;
  }
}
