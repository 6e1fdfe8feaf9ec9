// The site-central pool-lease service as the tests run it: the service on its own role's
// connections (pool-leases), pilots on the pilot role's NATS connection with a report key each, and
// the jobs they hold recorded in the job store as a matchmaker's claim records them (running, with
// the pilot, a lease token and the pilot's report key bound to the attempt).
import { randomBytes, type KeyObject } from "node:crypto";
import type { NatsConnection } from "nats";
import { JobStore } from "../../../jobs/index.ts";
import type { LoadedConfig } from "../../../platform/config.ts";
import type { RedisClient } from "../../../platform/redis-client.ts";
import type { Site } from "../../../schemas/index.ts";
import { generateReportKey, signAttemptRequest } from "../../../security/index.ts";
import {
  AccountMapper,
  POOL_LEASE_SIGN_PURPOSE,
  PoolLease,
  PoolLeaseClient,
  startPoolLeaseService,
  type AuditSink,
  type GridIdentity,
  type Mapping,
  type PoolLeaseRecord,
  type PoolLeaseService,
} from "../../../site-authz/index.ts";
import { createJobs } from "../../matchmaker/fixtures.ts";
import { openNatsAs, openRedisAs } from "../../support/live-services.ts";
import { deleteNamespaceKeys } from "../../support/redis-cleanup.ts";

export interface HeldJob {
  readonly jobId: string;
  readonly attempt: { readonly attempt: number; readonly leaseToken: string };
}

/** One pilot process: its id, its report key, and a mapper per node that leases through the service. */
export class TestPoolPilot {
  readonly pilotId = `pilot-${randomBytes(4).toString("hex")}`;
  private readonly key = generateReportKey();

  constructor(private readonly f: PoolFixture) {}

  get publicKey(): string {
    return this.key.publicKey;
  }

  get privateKey(): KeyObject {
    return this.key.privateKey;
  }

  sign(text: string): string {
    return signAttemptRequest(POOL_LEASE_SIGN_PURPOSE, text, this.key.privateKey);
  }

  client(site: Site): PoolLeaseClient {
    return new PoolLeaseClient(this.f.pilotNc, this.f.names, { site: site.name, sign: (t) => this.sign(t) });
  }

  mapper(site: Site, node: string, o: { audit: AuditSink; scanDirs?: readonly string[] }): AccountMapper {
    return new AccountMapper({ site, names: this.f.names, node, pool: this.client(site), audit: o.audit, scanDirs: o.scanDirs });
  }

  /** A job of `dn` at `site`, claimed by this pilot and running. */
  async hold(site: Site, dn: string): Promise<HeldJob> {
    const [spec] = await createJobs(this.f.store, { site: site.name, userDn: dn }, 1);
    const leaseToken = `lease-${randomBytes(8).toString("hex")}`;
    await this.f.store.transition(spec.jobId, "sent", ["activated"], { pilotId: this.pilotId, leaseToken, reportKey: this.key.publicKey });
    await this.f.store.transition(spec.jobId, "running", ["sent"], {});
    return { jobId: spec.jobId, attempt: { attempt: 1, leaseToken } };
  }

  /** Holds a job of the identity's DN and maps it on `mapper`, as the pilot's identity switch does. */
  async map(mapper: AccountMapper, site: Site, who: GridIdentity): Promise<{ mapping: Mapping; job: HeldJob }> {
    const job = await this.hold(site, who.dn);
    return { mapping: await mapper.map(who, { jobId: job.jobId, pilotId: this.pilotId, attempt: job.attempt }), job };
  }
}

export class PoolFixture {
  private constructor(
    readonly loaded: LoadedConfig,
    readonly service: PoolLeaseService,
    private readonly serviceNc: NatsConnection,
    private readonly serviceRedis: RedisClient,
    readonly pilotNc: NatsConnection,
    /** The job store as the matchmaker writes it (its role's connection). */
    readonly store: JobStore,
    readonly writer: RedisClient,
    /** A read-only view, as the operator's `wms site authz check` has. */
    readonly reader: RedisClient,
  ) {}

  get names(): LoadedConfig["names"] {
    return this.loaded.names;
  }

  static async start(loaded: LoadedConfig, sites: readonly Site[]): Promise<PoolFixture> {
    const serviceNc = await openNatsAs(loaded, "pool-leases", "test-pool-leases");
    const serviceRedis = openRedisAs(loaded, "pool-leases");
    const service = startPoolLeaseService({ nc: serviceNc, redis: serviceRedis, names: loaded.names, sites });
    await service.ready;
    const writer = openRedisAs(loaded, "matchmaker");
    return new PoolFixture(loaded, service, serviceNc, serviceRedis, await openNatsAs(loaded, "pilot", "test-pool-pilot"), new JobStore(writer, loaded.names), writer, openRedisAs(loaded, "operator"));
  }

  pilot(): TestPoolPilot {
    return new TestPoolPilot(this);
  }

  leases(site: Site): Promise<PoolLeaseRecord[]> {
    return new PoolLease(this.reader, this.names, site.name).list();
  }

  async close(): Promise<void> {
    await this.service.stop();
    await this.serviceNc.close();
    await this.pilotNc.close();
    await deleteNamespaceKeys(this.writer, this.names.namespace);
    for (const r of [this.serviceRedis, this.writer, this.reader]) r.disconnect();
  }
}
