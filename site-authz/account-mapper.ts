// LCMAPS's role: the site's mapping plug-ins tried in order, the first that maps wins; with SCAS's
// site-central pool so every node maps a DN alike (pilots lease through the pool-lease service, the
// service itself and the operator's peek use the store). Every decision is audited (DN, attributes,
// account, node, time). An edge module: it reads the grid-mapfile once and holds what it is given.
import { existsSync, readFileSync } from "node:fs";
import type { RedisClient } from "../platform/redis-client.ts";
import { DEFAULT_POOL_LEASE_SEC, ERR, WmsError, type MappingPlugin, type Site, type WireNames } from "../schemas/index.ts";
import { checkAccountClean, type Cleanliness } from "./account-cleanliness.ts";
import { auditRecord, describeAttributes, type AuditSink } from "./audit-record.ts";
import type { GridIdentity } from "./grid-identity.ts";
import { parseGridmap, type Gridmap } from "./gridmap-file.ts";
import { resolveAccount } from "./local-account.ts";
import { redisPoolLeases, type AttemptProof, type LeaseResult, type PoolLeaseRecord, type PoolLeases, type ReleaseStatus } from "./pool-lease.ts";
import { mapRole } from "./role-mapping.ts";

export type MappingPluginName = MappingPlugin["type"];

export interface MappingStep {
  readonly plugin: MappingPluginName;
  readonly mapped: boolean;
  readonly detail: string;
}

export interface Mapping {
  readonly account: string;
  readonly plugin: MappingPluginName;
  readonly detail: string;
  /** Set for pool accounts. */
  readonly lease?: LeaseResult;
  readonly trail: readonly MappingStep[];
}

export interface MapOptions {
  readonly jobId?: string;
  readonly pilotId?: string;
  /** The attempt of `jobId` the caller holds and its lease token: what the pool-lease service checks. */
  readonly attempt?: { readonly attempt: number; readonly leaseToken: string };
  /** false: say which pool account would be leased without taking it (and audit nothing). Default true. */
  readonly lease?: boolean;
}

export interface AccountRelease {
  readonly status: ReleaseStatus;
  readonly holdersLeft: number;
  readonly check: Cleanliness;
}

export interface MapperOptions {
  readonly site: Site;
  readonly names: WireNames;
  /** This worker node's name; pool holders and audit records carry it. */
  readonly node: string;
  readonly audit: AuditSink;
  /**
   * Where pool leases come from when the site's chain has a `pool` plug-in: `pool` (a pilot: the
   * pool-lease service, PoolLeaseClient), or `redis` (the store itself: the service, the operator's peek).
   */
  readonly pool?: PoolLeases;
  readonly redis?: RedisClient;
  /** Where a pool account's leftover files are looked for before release, besides its home and the dirs the caller names. */
  readonly scanDirs?: readonly string[];
}

export const DEFAULT_SCAN_DIRS: readonly string[] = ["/tmp", "/var/tmp", "/dev/shm"];

type PoolPlugin = Extract<MappingPlugin, { type: "pool" }>;

export class AccountMapper {
  readonly site: Site;
  readonly node: string;
  private readonly gridmaps = new Map<string, Gridmap>();
  private readonly pool: PoolLeases | undefined;
  private readonly audit: AuditSink;
  private readonly scanDirs: readonly string[];

  constructor(o: MapperOptions) {
    this.site = o.site;
    this.node = o.node;
    this.audit = o.audit;
    this.scanDirs = o.scanDirs ?? DEFAULT_SCAN_DIRS;
    for (const p of o.site.mapping) {
      if (p.type === "gridmap" && !this.gridmaps.has(p.file)) {
        let text: string;
        try {
          text = readFileSync(p.file, "utf8");
        } catch (e) {
          throw new WmsError(ERR.BAD_CONFIG, `site ${o.site.name}: grid-mapfile ${p.file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
        }
        this.gridmaps.set(p.file, parseGridmap(text, p.file));
      }
    }
    const hasPool = o.site.mapping.some((p) => p.type === "pool");
    if (hasPool && !o.pool && !o.redis) throw new WmsError(ERR.BAD_CONFIG, `site ${o.site.name} maps to pool accounts, which needs the pool-lease service (or, for the service itself, the site's Redis)`);
    this.pool = !hasPool ? undefined : (o.pool ?? (o.redis ? redisPoolLeases(o.redis, o.names, o.site.name) : undefined));
  }

  /** Maps the identity to a local account or throws MAP_NO_ACCOUNT / MAP_POOL_EXHAUSTED; audited unless `lease: false`. */
  async map(identity: GridIdentity, opts: MapOptions = {}): Promise<Mapping> {
    const take = opts.lease ?? true;
    const trail: MappingStep[] = [];
    const dn = identity.dn;
    let exhausted: string | undefined;
    const record = async (detail: string, localAccount?: string): Promise<void> => {
      if (!take) return;
      await this.audit(
        auditRecord({ event: "mapping-decision", dn: identity.dn, localAccount, site: this.site.name, node: this.node, pilotId: opts.pilotId, jobId: opts.jobId, detail: `${detail}; ${describeAttributes(identity)}` }),
      );
    };
    for (const p of this.site.mapping) {
      const step = await this.tryPlugin(p, identity, dn, opts, take);
      trail.push(step.step);
      if (step.mapping) {
        const m: Mapping = { ...step.mapping, trail };
        await record(`mapped by ${m.plugin}: ${m.detail}`, m.account);
        return m;
      }
      if (step.exhausted) exhausted = step.step.detail;
    }
    const explain = trail.map((s) => `${s.plugin}: ${s.detail}`).join("; ") || "the site has no mapping plug-ins";
    if (exhausted !== undefined) {
      await record(`refused E${ERR.MAP_POOL_EXHAUSTED}: ${explain}`);
      throw new WmsError(ERR.MAP_POOL_EXHAUSTED, `site ${this.site.name}: ${exhausted}`);
    }
    await record(`refused E${ERR.MAP_NO_ACCOUNT}: ${explain}`);
    throw new WmsError(ERR.MAP_NO_ACCOUNT, `site ${this.site.name} maps no account to ${dn} (${explain}); ask the site admin for a grid-mapfile entry or a role/pool mapping`);
  }

  private async tryPlugin(
    p: MappingPlugin,
    identity: GridIdentity,
    dn: string,
    opts: MapOptions,
    take: boolean,
  ): Promise<{ step: MappingStep; mapping?: Omit<Mapping, "trail">; exhausted?: boolean }> {
    switch (p.type) {
      case "gridmap": {
        const accounts = this.gridmaps.get(p.file)?.get(dn);
        if (!accounts) return { step: { plugin: "gridmap", mapped: false, detail: `DN not in ${p.file}` } };
        const detail = `${p.file} maps the DN to ${accounts[0]}`;
        return { step: { plugin: "gridmap", mapped: true, detail }, mapping: { account: accounts[0], plugin: "gridmap", detail } };
      }
      case "role": {
        const hit = mapRole(p.roles, identity);
        if (!hit) return { step: { plugin: "role", mapped: false, detail: `no mapped role among [${identity.roles.join(", ")}]` } };
        const detail = `role ${hit.role} maps to group account ${hit.account}`;
        return { step: { plugin: "role", mapped: true, detail }, mapping: { account: hit.account, plugin: "role", detail } };
      }
      case "pool":
        return this.tryPool(p, dn, opts, take);
    }
  }

  private proof(jobId: string | undefined, pilotId: string | undefined, attempt: MapOptions["attempt"]): AttemptProof | undefined {
    return jobId !== undefined && pilotId !== undefined && attempt !== undefined ? { attempt: attempt.attempt, leaseToken: attempt.leaseToken, pilotId } : undefined;
  }

  private async tryPool(p: PoolPlugin, dn: string, opts: MapOptions, take: boolean): Promise<{ step: MappingStep; mapping?: Omit<Mapping, "trail">; exhausted?: boolean }> {
    const pool = this.pool as PoolLeases;
    const lease = await pool.lease({
      dn,
      plugin: this.site.mapping.indexOf(p),
      accounts: p.accounts,
      leaseSec: p.leaseSec ?? DEFAULT_POOL_LEASE_SEC,
      node: this.node,
      jobId: opts.jobId,
      attempt: this.proof(opts.jobId, opts.pilotId, opts.attempt),
      peek: !take,
    });
    if (lease.status === "exhausted") {
      return { step: { plugin: "pool", mapped: false, detail: `all ${p.accounts.length} pool accounts are leased or not yet confirmed clean` }, exhausted: true };
    }
    const verb: Record<Exclude<typeof lease.status, "exhausted">, string> = {
      held: "already holds",
      renewed: "holds (lease renewed)",
      new: take ? "leased" : "would lease",
      reused: take ? `leased (reused after ${lease.previousDn ?? "?"})` : `would lease (reused after ${lease.previousDn ?? "?"})`,
    };
    const detail = `pool account ${lease.account}: the DN ${verb[lease.status]} until ${new Date(lease.expiresAt).toISOString()}`;
    return { step: { plugin: "pool", mapped: true, detail }, mapping: { account: lease.account, plugin: "pool", detail, lease } };
  }

  /**
   * After a job under a pool account: checks on this node that no process of the account runs and
   * no file of it remains (its home, `scanDirs`, and `dirs`), and only then tells the lease store
   * this node is done with it. A dirty account stays out of the pool; call again once it is clean.
   * Group accounts (gridmap, role) are not leased: nothing to release.
   */
  async release(
    mapping: Pick<Mapping, "account" | "plugin">,
    dn: string,
    opts: { dirs?: readonly string[]; jobId?: string; pilotId?: string; attempt?: MapOptions["attempt"] } = {},
  ): Promise<AccountRelease | undefined> {
    if (mapping.plugin !== "pool" || !this.pool) return undefined;
    const acct = resolveAccount(mapping.account);
    const dirs = [...(acct.home !== "/" && existsSync(acct.home) ? [acct.home] : []), ...this.scanDirs, ...(opts.dirs ?? [])].filter((d) => existsSync(d));
    const check = await checkAccountClean(acct.uid, dirs);
    const plugin = this.site.mapping.findIndex((p) => p.type === "pool" && p.accounts.includes(mapping.account));
    const r = await this.pool.release({ account: mapping.account, dn, node: this.node, clean: check.clean, plugin: Math.max(0, plugin), jobId: opts.jobId, attempt: this.proof(opts.jobId, opts.pilotId, opts.attempt) });
    const why = check.clean
      ? `clean on ${this.node}`
      : `not clean on ${this.node}: processes [${check.pids.join(", ")}] files [${check.files.join(", ")}]${check.truncated ? " (scan limit hit)" : ""}`;
    await this.audit(
      auditRecord({
        event: "mapping-decision",
        dn,
        localAccount: mapping.account,
        site: this.site.name,
        node: this.node,
        jobId: opts.jobId,
        pilotId: opts.pilotId,
        detail: `pool release ${r.status}: ${why}; ${r.holdersLeft} holder(s) left`,
      }),
    );
    return { status: r.status, holdersLeft: r.holdersLeft, check };
  }

  async poolLeases(): Promise<PoolLeaseRecord[]> {
    return this.pool?.list ? this.pool.list() : [];
  }
}
