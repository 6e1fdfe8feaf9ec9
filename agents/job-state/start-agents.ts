// Starts the report agents in one process: the job-state agent (state + error consumers), the
// accounting agent, the audit consumer and the job log store. `wms agents` runs this until Ctrl-C; the demo calls it
// in-process. Run several processes for more throughput: they are competing consumers.
import type { RedisClient } from "../../platform/redis-client.ts";
import type { Logger } from "pino";
import type { WireNames, WmsConfig } from "../../schemas/index.ts";
import { DispatchQueues } from "../../jobs/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { accountingConsumer, auditConsumer, UsageStore } from "../accounting/index.ts";
import { logConsumer } from "../job-logs/index.ts";
import { ReplicaCatalogStore } from "../../matchmaker/index.ts";
import { AUDIT_RECORD_SEAL_PURPOSE, QueueDepthSampler, type ReportConsumer } from "../reports/index.ts";
import { openSealVerifier, REPORT_KEY_SEAL_PURPOSE, SealVerifier, type SealKeyring } from "../../security/index.ts";
import { dataLocalRebroker, type Rebroker } from "./job-rebroker.ts";
import type { JobDispatch } from "./job-state-agent.ts";
import { errorConsumer, stateConsumer } from "./job-state-consumers.ts";

export const AGENT_NAMES = ["job-state", "accounting", "audit", "logs"] as const;
export type AgentName = (typeof AGENT_NAMES)[number];

export interface StartAgentsOptions {
  config: WmsConfig;
  names: WireNames;
  /** Ordinary connection for the stores. */
  redis: RedisClient;
  /** An existing DispatchQueues (the demo shares its matchmaker's); else one is made on `redis`. */
  dispatch?: JobDispatch;
  /** Defaults to config.rabbitmq.url. */
  rabbitUrl?: string;
  logger: Logger;
  /** Which agents (default all). */
  only?: readonly AgentName[];
  prefetch?: number;
  /** How retries pick a site (default: data-local brokerage over the replica catalog). */
  rebroker?: Rebroker;
  /** The audit-record seal keys the credential cache's audit records are checked with (default: config.pki's key file). */
  auditSealKeys?: SealKeyring;
  /** The report-key seal keys the matchmaker seals each attempt's report key with (default: config.pki's key file). */
  reportKeySealKeys?: SealKeyring;
  /** How often the report queues' depths are sampled for `/metrics` (queue-depth.ts; default 15 s, 0: never). */
  queueDepthMs?: number;
}

export interface AgentsHandle {
  readonly consumers: Readonly<Record<string, ReportConsumer>>;
  stop(): Promise<void>;
}

export async function startAgents(o: StartAgentsOptions): Promise<AgentsHandle> {
  const url = o.rabbitUrl ?? o.config.rabbitmq.url;
  const which = new Set<AgentName>(o.only ?? AGENT_NAMES);
  // The URL override (tests behind a proxy) keeps the config's identity and TLS settings.
  const base = { url, rabbit: o.config.rabbitmq, names: o.names, redis: o.redis, prefetch: o.prefetch };
  const consumers: Record<string, ReportConsumer> = {};
  // Every store a report is checked through believes an attempt's report key only with the
  // matchmaker's seal (security/report-key-seal.ts): a key rewritten in Redis signs nothing.
  const reportKeySeals = o.reportKeySealKeys ? new SealVerifier(o.reportKeySealKeys, REPORT_KEY_SEAL_PURPOSE) : openSealVerifier(o.config.pki, REPORT_KEY_SEAL_PURPOSE);
  const jobStore = (): JobStore => new JobStore(o.redis, o.names, { reportKeySeals });
  let ownDispatch: DispatchQueues | undefined;
  if (which.has("job-state")) {
    let dispatch = o.dispatch;
    if (!dispatch) {
      ownDispatch = new DispatchQueues({
        redis: o.redis,
        names: o.names,
        lockMs: o.config.jobs.leaseSec * 1000,
        stalledIntervalMs: o.config.jobs.leaseCheckSec * 1000,
        onError: (e, context) => o.logger.warn({ err: e.message, context }, "dispatch queues"),
      });
      dispatch = ownDispatch;
    }
    const logger = o.logger.child({ agent: "job-state" });
    const deps = { jobs: jobStore(), dispatch, rebroker: o.rebroker ?? dataLocalRebroker(o.redis, o.names, logger), logger, catalog: new ReplicaCatalogStore(o.redis, o.names) };
    consumers.state = stateConsumer({ ...base, logger, deps });
    consumers.errors = errorConsumer({ ...base, logger });
  }
  if (which.has("accounting")) {
    consumers.accounting = accountingConsumer({ ...base, logger: o.logger.child({ agent: "accounting" }), usage: new UsageStore(o.redis, o.names, o.config.quotas), jobs: jobStore() });
  }
  if (which.has("audit")) {
    const logger = o.logger.child({ agent: "audit" });
    // A service's own audit records (the credential cache's) count only under the audit-record
    // seal; without its key file, only pilots' signed records are stored.
    let serviceSeals: SealVerifier | undefined;
    try {
      serviceSeals = o.auditSealKeys ? new SealVerifier(o.auditSealKeys, AUDIT_RECORD_SEAL_PURPOSE) : openSealVerifier(o.config.pki, AUDIT_RECORD_SEAL_PURPOSE);
    } catch (e) {
      logger.warn({ err: (e as Error).message }, "no audit-record seal key: the credential cache's audit records will be refused");
    }
    consumers.audit = auditConsumer({ ...base, logger, jobs: jobStore(), ...(serviceSeals && { serviceSeals }) });
  }
  if (which.has("logs")) consumers.logs = logConsumer({ ...base, logger: o.logger.child({ agent: "logs" }), jobs: jobStore() });
  const started: ReportConsumer[] = [];
  try {
    for (const c of Object.values(consumers)) {
      await c.start();
      started.push(c);
    }
  } catch (e) {
    for (const c of started) await c.stop();
    await ownDispatch?.close();
    throw e;
  }
  const sampler = o.queueDepthMs === 0 ? undefined : new QueueDepthSampler({ url, rabbit: o.config.rabbitmq, names: o.names, redis: o.redis, logger: o.logger, intervalMs: o.queueDepthMs });
  sampler?.start();
  return {
    consumers,
    async stop() {
      await sampler?.stop();
      await Promise.all(Object.values(consumers).map((c) => c.stop()));
      await ownDispatch?.close();
    },
  };
}
