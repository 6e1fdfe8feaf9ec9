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
  };
  /**
   * A site's own advert and heartbeat subjects. Partitioning by site lets matchmakers (and the NATS
   * nodes they sit on) each take a share of the sites; `advert + ".*"` is every site.
   */
  advertFor(site: string): string;
  heartbeatFor(site: string): string;
  readonly queueGroups: { readonly matchmaker: string; readonly intake: string; readonly credentials: string };
  /** BullMQ prefix. The `{...}` hash tag keeps every key of a queue in one Redis Cluster slot. */
  readonly bullPrefix: string;
  /** BullMQ queue name for the jobs waiting at one site in one autocluster. */
  siteQueue(site: string, autocluster: string): string;
  readonly rabbit: {
    readonly reportsExchange: string;
    readonly deadLetterExchange: string;
    readonly queues: { readonly jobState: string; readonly accounting: string; readonly audit: string; readonly errors: string; readonly logs: string; readonly deadLetter: string };
    readonly routingKeys: { readonly state: string; readonly error: string; readonly accounting: string; readonly audit: string; readonly log: string };
  };
  /** Redis key prefix for everything that is not a BullMQ queue. */
  readonly redisPrefix: string;
  redisKey(...parts: string[]): string;
}

/**
 * A site name as one NATS subject token. Site names may hold dots, which separate tokens; `~` is
 * outside the site alphabet (schemas/messages/common.ts SiteName), so the mapping is one-to-one.
 */
export function siteSubjectToken(site: string): string {
  return site.replaceAll(".", "~");
}

const NAMESPACE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function wireNames(namespace = "wms"): WireNames {
  if (!NAMESPACE_RE.test(namespace)) throw new Error(`namespace '${namespace}' must match ${NAMESPACE_RE}`);
  const ns = namespace;
  const redisPrefix = `${ns}:`;
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
    },
    advertFor: (site) => `${ns}.match.advert.${siteSubjectToken(site)}`,
    heartbeatFor: (site) => `${ns}.match.heartbeat.${siteSubjectToken(site)}`,
    queueGroups: { matchmaker: `${ns}-matchmakers`, intake: `${ns}-intake`, credentials: `${ns}-credcache` },
    bullPrefix: `{${ns}}`,
    siteQueue: (site, autocluster) => `site.${site}.ac.${autocluster}`,
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
  };
}
