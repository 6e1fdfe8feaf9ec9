// Every wire name, defined once. A deployment (or a test) picks a namespace; all subjects, queues,
// exchanges and Redis keys hang under it, so two deployments or two test files never meet.

export interface WireNames {
  readonly namespace: string;
  readonly subjects: {
    /** Pilot adverts; matchmakers subscribe in the `matchmakers` queue group. */
    readonly advert: string;
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
