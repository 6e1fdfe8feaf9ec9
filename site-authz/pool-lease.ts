// The site-central pool-account lease store (SCAS's role) in Redis, behind two Lua scripts in
// lua/. Every worker node of a site that asks for the same DN gets the same account while the
// lease lasts; an account changes hands only after it expired and every node confirmed it clean.
import { readFileSync } from "node:fs";
import type { RedisClient } from "../platform/redis-client.ts";
import type { WireNames } from "../schemas/index.ts";
import { redisScript } from "../platform/redis-script.ts";

const leaseScript = redisScript(readFileSync(new URL("./lua/lease-pool-account.lua", import.meta.url), "utf8"));
const releaseScript = redisScript(readFileSync(new URL("./lua/release-pool-account.lua", import.meta.url), "utf8"));

export type LeaseStatus = "held" | "renewed" | "new" | "reused" | "exhausted";

export interface LeaseResult {
  /** Empty when the pool is exhausted. */
  readonly account: string;
  readonly status: LeaseStatus;
  readonly expiresAt: number;
  /** The DN that held the account before, when it was reused. */
  readonly previousDn?: string;
}

export type ReleaseStatus = "released" | "dirty" | "unknown" | "other-dn";

export interface ReleaseResult {
  readonly status: ReleaseStatus;
  /** Holders (jobs on other nodes) still registered on the lease. */
  readonly holdersLeft: number;
  readonly expiresAt: number;
}

export interface PoolLeaseRecord {
  readonly account: string;
  readonly dn: string;
  readonly expiresAt: number;
  readonly holders: readonly string[];
  readonly clean: boolean;
}

/** The attempt a pilot holds, which the pool-lease service checks a request against. */
export interface AttemptProof {
  readonly attempt: number;
  readonly leaseToken: string;
  readonly pilotId: string;
}

export interface PoolLeaseAsk {
  readonly dn: string;
  /** The pool plug-in's position in the site's `mapping`, its accounts and lease. */
  readonly plugin: number;
  readonly accounts: readonly string[];
  readonly leaseSec: number;
  readonly node: string;
  /** The job that will run under the account (a holder `<node>/<jobId>`); none takes a lease with no job. */
  readonly jobId?: string;
  readonly attempt?: AttemptProof;
  /** Say what a lease would give without taking it. */
  readonly peek: boolean;
}

export interface PoolReleaseAsk {
  readonly account: string;
  readonly dn: string;
  readonly node: string;
  readonly clean: boolean;
  readonly plugin: number;
  readonly jobId?: string;
  readonly attempt?: AttemptProof;
}

/**
 * Where a mapper's pool leases come from: the store itself (`redisPoolLeases`: the pool-lease
 * service, the operator's read-only peek) or the pool-lease service over NATS (PoolLeaseClient:
 * pilots, which hold no Redis credentials).
 */
export interface PoolLeases {
  lease(ask: PoolLeaseAsk): Promise<LeaseResult>;
  release(ask: PoolReleaseAsk): Promise<ReleaseResult>;
  /** Every lease of the site; only the store can list them. */
  list?(): Promise<PoolLeaseRecord[]>;
}

/** The store itself, for whoever holds the Redis identity of the pool keys. */
export function redisPoolLeases(redis: RedisClient, names: WireNames, site: string): PoolLeases {
  const pool = new PoolLease(redis, names, site);
  return {
    lease: (a) => pool.lease(a.dn, a.accounts, a.leaseSec, a.jobId !== undefined ? `${a.node}/${a.jobId}` : "", a.peek),
    release: (a) => pool.release(a.account, a.dn, a.node, a.clean),
    list: () => pool.list(),
  };
}

export function poolKey(names: WireNames, site: string): string {
  return names.redisKey("site", site, "pool");
}

export class PoolLease {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    names: WireNames,
    site: string,
  ) {
    this.key = poolKey(names, site);
  }

  /** `holder` (`<node>/<jobId>`) registers a job that will run under the account; '' takes a lease with no job. */
  async lease(dn: string, accounts: readonly string[], leaseSec: number, holder: string, peek = false): Promise<LeaseResult> {
    // A peek writes nothing, so it runs read-only: an identity that may only read the pool (the
    // operator's `wms site authz check`) can still say what a lease would give.
    const args = [dn, String(leaseSec * 1000), holder, peek ? "peek" : "lease", ...accounts];
    const [account, status, expiresAt, previousDn] = (await (peek ? leaseScript.runReadOnly(this.redis, [this.key], args) : leaseScript.run(this.redis, [this.key], args))) as [string, string, number, string];
    return { account, status: status as LeaseStatus, expiresAt: Number(expiresAt), ...(previousDn ? { previousDn } : {}) };
  }

  async release(account: string, dn: string, node: string, clean: boolean): Promise<ReleaseResult> {
    const [status, holdersLeft, expiresAt] = (await releaseScript.run(this.redis, [this.key], [account, dn, node, clean ? "1" : "0"])) as [string, number, number];
    return { status: status as ReleaseStatus, holdersLeft: Number(holdersLeft), expiresAt: Number(expiresAt) };
  }

  async list(): Promise<PoolLeaseRecord[]> {
    const all = await this.redis.hgetall(this.key);
    const out: PoolLeaseRecord[] = [];
    for (const [field, value] of Object.entries(all)) {
      if (!field.startsWith("a:")) continue;
      const rec = JSON.parse(value) as { dn: string; expiresAt: number; holders: Record<string, number>; clean: boolean };
      out.push({ account: field.slice(2), dn: rec.dn, expiresAt: rec.expiresAt, holders: Object.keys(rec.holders), clean: rec.clean });
    }
    return out.sort((a, b) => a.account.localeCompare(b.account));
  }
}
