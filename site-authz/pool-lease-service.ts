// The site-central pool-account lease service (SCAS's role: a central service holds the pool and
// answers every worker node's mapping request, so no node holds the pool's store itself; Argus
// serves LCMAPS mappings the same way). It holds the Redis identity of the pool keys and runs
// PoolLease's scripts for pilots, which hold no Redis credentials. NATS request/reply in a queue
// group, so instances share the load; all state is in Redis.
//
// Zero trust: a request counts only when it names an attempt of a job that the job's record says
// this pilot holds at this site, for that job's owner DN, and is signed with the report key the
// matchmaker bound to that attempt (only the pilot process that advertised it holds the private
// half). A lease needs the attempt live (sent, starting, running); a release may also come from an
// attempt that has ended (cancelled, failed, requeued while its pilot cleaned up), since its
// cleanliness report is what lets the account go to someone else. Every refusal is answered with
// its code, logged, audited (at most 60 a minute) and counted; bad input changes nothing.
//
// What it believes without a seal: the job's record (state, attempt, pilot, lease token, report
// key, owner), as the credential cache does. Every role that could rewrite that record can write
// the pool hash itself, so checking the matchmaker's report-key seal here would stop no one more,
// and would hand this service a key that lets its holder bind report keys.
import type { NatsConnection } from "nats";
import type { Logger } from "../platform/logger.ts";
import { serveRequests } from "../platform/request-reply-service.ts";
import type { RedisClient } from "../platform/redis-client.ts";
import { DEFAULT_POOL_LEASE_SEC, ERR, PoolLeaseRequest, SCHEMA_VERSION, WmsError, type ErrorCode, type PoolLeaseReply, type Site, type WireNames } from "../schemas/index.ts";
import { AuditLog, NonceStore, attemptRequestSignatureHolds, refusalAuditBudget } from "../security/index.ts";
import { JobStore, LEASED_STATES } from "../jobs/index.ts";
import { POOL_LEASE_SIGN_PURPOSE, poolLeaseSignedText } from "./pool-lease-client.ts";
import { redisPoolLeases, type PoolLeases } from "./pool-lease.ts";

/** A request older or newer than this is refused (E1720): a captured one cannot be sent later. */
export const MAX_POOL_REQUEST_AGE_MS = 5 * 60_000;

/** The attempt of a job a request names, as the job's state owner holds it. */
export interface PoolJobAttempt {
  /** The job's current attempt (else one that has ended, from its history). */
  readonly current: boolean;
  readonly state: string;
  readonly site: string;
  readonly ownerDn: string;
  readonly pilotId: string;
  readonly leaseToken: string;
  readonly reportKey?: string;
}

/** The one question the service asks of the job's state owner. */
export interface PoolLeaseJobs {
  attempt(jobId: string, attempt: number): Promise<PoolJobAttempt | undefined>;
}

/** Read through the JobStore (read-only: the service's role may only read the task shards). */
export function jobStorePoolAttempts(store: JobStore): PoolLeaseJobs {
  return {
    async attempt(jobId, attempt) {
      const j = await store.getJob(jobId);
      if (j === undefined) return undefined;
      if (j.attempt === attempt) {
        return { current: true, state: j.state, site: j.site, ownerDn: j.spec.userDn, pilotId: j.pilotId ?? "", leaseToken: j.leaseToken ?? "", reportKey: j.reportKey };
      }
      const past = (await store.attempts(jobId)).find((a) => a.attempt === attempt);
      if (past === undefined) return undefined;
      return { current: false, state: past.state, site: past.site, ownerDn: j.spec.userDn, pilotId: past.pilotId, leaseToken: past.leaseToken, reportKey: past.reportKey };
    },
  };
}

export function poolLeaseRefusedKey(names: WireNames): string {
  return names.redisKey("sec", "pool-lease-refused");
}

/** Refusals by code (`wms_pool_lease_refused_total{code}` on the monitor's /metrics). */
export async function poolLeaseRefusals(redis: RedisClient, names: WireNames): Promise<Array<{ code: number; count: number }>> {
  const h = await redis.hgetall(poolLeaseRefusedKey(names));
  return Object.entries(h)
    .map(([code, n]) => ({ code: Number(code), count: Number(n) }))
    .sort((a, b) => a.code - b.code);
}

export interface PoolLeaseServiceDeps {
  readonly nc: NatsConnection;
  /** The pool-lease role's connection: the pool keys, the task shards read-only, nonces, the audit stream. */
  readonly redis: RedisClient;
  readonly names: WireNames;
  /** The site file's sites: which accounts a site's pool holds and for how long come from here, never from a request. */
  readonly sites: readonly Site[];
  readonly logger?: Logger;
  readonly clock?: () => number;
  /** Who holds which attempt of a job; default the JobStore in the same Redis namespace. */
  readonly jobs?: PoolLeaseJobs;
}

export interface PoolLeaseService {
  /** Resolves once the server has the subscription: a request sent before could find no responder. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export function startPoolLeaseService(d: PoolLeaseServiceDeps): PoolLeaseService {
  const clock = d.clock ?? Date.now;
  const log = d.logger;
  const jobs = d.jobs ?? jobStorePoolAttempts(new JobStore(d.redis, d.names));
  const nonces = new NonceStore(d.redis, d.names, clock);
  const audit = new AuditLog(d.redis, d.names);
  const budget = refusalAuditBudget();
  const sites = new Map(d.sites.map((s) => [s.name, s]));
  const pools = new Map<string, PoolLeases>();
  const poolOf = (site: string): PoolLeases => {
    let p = pools.get(site);
    if (p === undefined) pools.set(site, (p = redisPoolLeases(d.redis, d.names, site)));
    return p;
  };

  // Every refusal leaves a trace: the log, the audit stream (within its budget) and a count by code.
  const refuse = async (code: ErrorCode, why: string, req: Partial<PoolLeaseRequest>): Promise<never> => {
    const fields = { op: String(req.op ?? ""), site: String(req.site ?? ""), jobId: String(req.jobId ?? ""), attempt: String(req.attempt ?? ""), pilotId: String(req.pilotId ?? ""), dn: String(req.dn ?? ""), node: String(req.node ?? "") };
    log?.warn({ code, ...fields }, `pool lease refused: ${why}`);
    const traces: Array<Promise<unknown>> = [d.redis.hincrby(poolLeaseRefusedKey(d.names), String(code), 1)];
    const b = budget.take();
    if (b.write) traces.push(audit.write("pool-lease-refused", { code: String(code), reason: why.slice(0, 500), ...fields, ...(b.omitted > 0 ? { omitted: String(b.omitted) } : {}) }));
    await Promise.all(traces).catch((e: unknown) => log?.error({ err: (e as Error).message }, "a pool-lease refusal could not be counted or audited"));
    throw new WmsError(code, why);
  };

  // Bad input is answered (serveRequests) and changes nothing; it proves nothing about anyone, so it is not audited.
  async function handle(req: PoolLeaseRequest): Promise<PoolLeaseReply> {
    const site = sites.get(req.site);
    const plugin = site?.mapping[req.plugin];
    if (site === undefined || plugin === undefined || plugin.type !== "pool") {
      throw new WmsError(ERR.BAD_INPUT, `site ${req.site} has no pool plug-in at position ${req.plugin} of its mapping in the pool-lease service's site file, as the pilot's does: the service reads the file when it starts, so restart it after editing the file ('wms down' and 'wms up' where wms up runs it)`);
    }
    if (req.op === "release" && (req.account === undefined || req.clean === undefined)) throw new WmsError(ERR.BAD_INPUT, "a release names the account and whether it is clean on the node");
    if (req.op === "release" && !plugin.accounts.includes(req.account as string)) throw new WmsError(ERR.BAD_INPUT, `${req.account} is not an account of site ${req.site}'s pool`);
    if (Math.abs(clock() - req.issuedAt) > MAX_POOL_REQUEST_AGE_MS) return refuse(ERR.SEC_REQUEST_EXPIRED, "the request is too old or from the future (replay, or check the clocks)", req);

    const held = await jobs.attempt(req.jobId, req.attempt);
    const who = `job ${req.jobId} attempt ${req.attempt}`;
    if (held === undefined) return refuse(ERR.POOL_LEASE_REFUSED, `${who} is unknown`, req);
    if (held.leaseToken === "" || held.leaseToken !== req.leaseToken || held.pilotId !== req.pilotId) {
      return refuse(ERR.POOL_LEASE_REFUSED, `${who} is not held by ${req.pilotId} under that lease token${held.current ? "" : " (an ended attempt)"}`, req);
    }
    if (req.op === "lease" && !(held.current && (LEASED_STATES as readonly string[]).includes(held.state))) {
      return refuse(ERR.POOL_LEASE_REFUSED, `${who} is ${held.current ? held.state : "over"}: a pool account is leased only for an attempt being started or run`, req);
    }
    if (held.site !== req.site) return refuse(ERR.POOL_LEASE_REFUSED, `${who} runs at site ${held.site}, not ${req.site}`, req);
    if (held.ownerDn !== req.dn) return refuse(ERR.POOL_LEASE_REFUSED, `${who} belongs to ${held.ownerDn}, not ${req.dn}`, req);
    const { signature, ...signed } = req;
    if (!attemptRequestSignatureHolds(POOL_LEASE_SIGN_PURPOSE, poolLeaseSignedText(signed), signature, held.reportKey)) {
      return refuse(ERR.POOL_LEASE_REFUSED, `${who}: the request is not signed by the report key bound to the attempt`, req);
    }
    // The nonce last: only a request that proved its attempt spends one.
    if (!(await nonces.isNonceNew(req.nonce, req.issuedAt + MAX_POOL_REQUEST_AGE_MS))) return refuse(ERR.SEC_NONCE_REPLAYED, `${who}: the request was sent before (replay)`, req);

    const pool = poolOf(req.site);
    if (req.op === "lease") {
      const r = await pool.lease({ dn: req.dn, plugin: req.plugin, accounts: plugin.accounts, leaseSec: plugin.leaseSec ?? DEFAULT_POOL_LEASE_SEC, node: req.node, jobId: req.jobId, peek: false });
      log?.info({ site: req.site, jobId: req.jobId, node: req.node, account: r.account, lease: r.status }, "pool lease");
      return { schemaVersion: SCHEMA_VERSION, status: "ok", op: "lease", account: r.account, lease: r.status, expiresAt: r.expiresAt, ...(r.previousDn !== undefined ? { previousDn: r.previousDn } : {}) };
    }
    const r = await pool.release({ account: req.account as string, dn: req.dn, node: req.node, clean: req.clean as boolean, plugin: req.plugin, jobId: req.jobId });
    log?.info({ site: req.site, jobId: req.jobId, node: req.node, account: req.account, release: r.status }, "pool release");
    return { schemaVersion: SCHEMA_VERSION, status: "ok", op: "release", release: r.status, holdersLeft: r.holdersLeft, expiresAt: r.expiresAt };
  }

  const service = serveRequests(d.nc, d.names.subjects.poolLease, { queue: d.names.queueGroups.poolLeases, decode: PoolLeaseRequest.parseJson, handler: handle, log, what: "pool-lease request" });
  log?.info({ namespace: d.names.namespace, sites: d.sites.filter((s) => s.mapping.some((m) => m.type === "pool")).map((s) => s.name) }, "pool-lease service listening");
  const ready = d.nc.flush();
  ready.catch(() => undefined);
  return {
    ready,
    stop: () => service.stop(),
  };
}
