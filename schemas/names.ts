// Every wire name, defined once. A deployment (or a test) picks a namespace; all subjects, queues,
// exchanges and Redis keys hang under it, so two deployments or two test files never meet.

export interface WireNames {
  readonly namespace: string;
  readonly subjects: {
    /**
     * Base of the per-site advert subjects (`advertFor(site)` = `<advert>.<site>`); a pilot of an
     * older release sends here. Matchmakers subscribe in the one `matchmakers` queue group.
     */
    readonly advert: string;
    /** Base of the per-site heartbeat subjects; single-job heartbeats of older pilots come here. */
    readonly heartbeat: string;
    readonly intakeSubmit: string;
    readonly intakeControl: string;
    readonly credDelegate: string;
    readonly credRetrieve: string;
    readonly credInfo: string;
    readonly credRenew: string;
    readonly factoryControl: string;
    readonly pilotCensus: string;
    /** The site-central pool-account lease service (site-authz/pool-lease-service.ts): pilots' lease and release requests. */
    readonly poolLease: string;
  };
  /**
   * A site's own advert and heartbeat subjects. Partitioning by site lets matchmakers (and the NATS
   * nodes they sit on) each take a share of the sites; `advert + ".*"` is every site.
   */
  advertFor(site: string): string;
  heartbeatFor(site: string): string;
  readonly queueGroups: { readonly matchmaker: string; readonly intake: string; readonly credentials: string; readonly poolLeases: string };
  /**
   * Key prefix of the benchmarks' plain BullMQ baselines (bench/), under the namespace so its
   * clean-up finds them; dispatch itself does not use BullMQ (jobs/README.md).
   */
  readonly bullPrefix: string;
  readonly rabbit: {
    readonly reportsExchange: string;
    readonly deadLetterExchange: string;
    readonly queues: { readonly jobState: string; readonly accounting: string; readonly audit: string; readonly errors: string; readonly logs: string; readonly deadLetter: string };
    readonly routingKeys: { readonly state: string; readonly error: string; readonly accounting: string; readonly audit: string; readonly log: string };
  };
  /** Redis key prefix for everything that is not a BullMQ queue. */
  readonly redisPrefix: string;
  redisKey(...parts: string[]): string;
  /**
   * Redis Cluster hash tag of one shard, `{<ns>:<kind>:<id>}`: keys built on the same tag share one
   * slot, so a script or MULTI over them runs on a cluster, and different tags spread over the
   * masters. Kinds: `s` a site, `t` a task, `j` a job (its logs), `a` a bucket of users'
   * accounting, `l` a bucket of a capped report list.
   */
  shardTag(kind: string, id: string): string;
  /** A key in a shard, `<ns>:{<ns>:<kind>:<id>}:<parts>`: under the namespace prefix like every other key. */
  shardKey(tag: string, ...parts: string[]): string;
  /** A key in the site's shard (`{<ns>:s:<site>}`): its one-time keys, pilot tokens, security audit, counters. */
  siteKey(site: string, ...parts: string[]): string;
}

/**
 * Which of `n` buckets an id falls in (FNV-1a, 32 bit): stable across processes and versions, so
 * every reader and writer of a bucketed layout agrees without asking Redis.
 */
export function bucketOf(id: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % n;
}

/**
 * A site name as one NATS subject token. Site names may hold dots, which separate tokens; `~` is
 * outside the site alphabet (schemas/messages/common.ts SiteName), so the mapping is one-to-one.
 */
export function siteSubjectToken(site: string): string {
  return site.replaceAll(".", "~");
}

const NAMESPACE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Whether a namespace is one `wireNames` (and wms.yaml's schema) takes. */
export function isNamespace(ns: string): boolean {
  return NAMESPACE_RE.test(ns);
}

export function wireNames(namespace = "wms"): WireNames {
  if (!NAMESPACE_RE.test(namespace)) throw new Error(`namespace '${namespace}' must match ${NAMESPACE_RE}`);
  const ns = namespace;
  const redisPrefix = `${ns}:`;
  const shardTag = (kind: string, id: string): string => `{${ns}:${kind}:${id}}`;
  // Appended part by part, not [tag, ...parts].join(":"): a match names two keys in its site's
  // shard (the pilot token, the one-time key), and the copies of the parts cost more than the key.
  const shardKey = (tag: string, ...parts: string[]): string => {
    let key = redisPrefix + tag;
    for (const p of parts) key += `:${p}`;
    return key;
  };
  return {
    namespace: ns,
    subjects: {
      advert: `${ns}.match.advert`,
      heartbeat: `${ns}.match.heartbeat`,
      intakeSubmit: `${ns}.intake.submit`,
      intakeControl: `${ns}.intake.control`,
      credDelegate: `${ns}.cred.delegate`,
      credRetrieve: `${ns}.cred.retrieve`,
      credInfo: `${ns}.cred.info`,
      credRenew: `${ns}.cred.renew`,
      factoryControl: `${ns}.factory.control`,
      pilotCensus: `${ns}.pilot.census`,
      poolLease: `${ns}.site.pool.lease`,
    },
    advertFor: (site) => `${ns}.match.advert.${siteSubjectToken(site)}`,
    heartbeatFor: (site) => `${ns}.match.heartbeat.${siteSubjectToken(site)}`,
    queueGroups: { matchmaker: `${ns}-matchmakers`, intake: `${ns}-intake`, credentials: `${ns}-credcache`, poolLeases: `${ns}-pool-leases` },
    bullPrefix: `{${ns}}`,
    rabbit: {
      reportsExchange: `${ns}.reports`,
      deadLetterExchange: `${ns}.reports.dlx`,
      queues: {
        jobState: `${ns}.reports.jobstate`,
        accounting: `${ns}.reports.accounting`,
        audit: `${ns}.reports.audit`,
        logs: `${ns}.reports.logs`,
        errors: `${ns}.reports.errors`,
        deadLetter: `${ns}.reports.dead`,
      },
      routingKeys: { state: "report.state", error: "report.error", accounting: "report.accounting", audit: "report.audit", log: "report.log" },
    },
    redisPrefix,
    redisKey: (...parts) => redisPrefix + parts.join(":"),
    shardTag,
    shardKey,
    siteKey: (site, ...parts) => {
      let key = `${redisPrefix}{${ns}:s:${site}}`;
      for (const p of parts) key += `:${p}`;
      return key;
    },
  };
}
