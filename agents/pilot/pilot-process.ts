// `wms pilot` and the demo start a pilot here: the edge that opens NATS and the report publisher,
// loads the CA bundle, wires the credential client, the identity switch and the census, runs the
// loop, and closes everything however the loop ends.
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LoadedConfig } from "../../platform/config.ts";
import { logNatsStatus, openNats } from "../../platform/connections.ts";
import { createLogger, type Logger } from "../../platform/logger.ts";
import type { Site } from "../../schemas/index.ts";
import { loadTrust, splitPems } from "../../security/index.ts";
import { AccountMapper, POOL_LEASE_SIGN_PURPOSE, PoolLeaseClient } from "../../site-authz/index.ts";
// The client and publisher modules, not the folders' ports: those also load the cache and the
// consumer (ioredis), which a pilot never runs and every pilot start would pay for.
import { CredentialClient } from "../credentials/credential-client.ts";
import { ReportPublisher } from "../reports/report-publisher.ts";
import { AttemptReportSigner } from "./attempt-report-signer.ts";
import { natsCensus } from "./census-publisher.ts";
import { identitySwitchLauncher } from "./identity-switch-launcher.ts";
import { runPilot, type PilotSummary } from "./pilot.ts";

export interface PilotProcessOptions {
  readonly loaded: LoadedConfig;
  /** The pilot's entry from the site configuration (`loadSiteEntry`). */
  readonly site: Site;
  readonly token: string;
  readonly workdir: string;
  readonly walltimeSec?: number;
  readonly maxEmpty?: number;
  readonly maxBackoffSec?: number;
  readonly maxUnansweredSec?: number;
  readonly pilotId?: string;
  readonly pilotCert?: { readonly certPath: string; readonly keyPath: string };
  readonly keepJobDirs?: boolean;
  /** The factory queue and factory that started this pilot, echoed in the census. */
  readonly queue?: string;
  readonly factoryId?: string;
  /** Repeat the census this often (s) while the pilot lives; the factory's census interval. */
  readonly censusSec?: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

export async function runPilotProcess(o: PilotProcessOptions): Promise<PilotSummary> {
  const { config, names } = o.loaded;
  const logger = o.logger ?? createLogger("pilot", config.logLevel);
  const site = o.site;
  const trust = loadTrust(config.pki.dir);
  const nc = await openNats(config, `pilot-${site.name}`);
  logNatsStatus(nc, logger);
  // One spool per node, not per pilot: a report a dead pilot left behind is sent by the next one.
  const publisher = new ReportPublisher({ url: config.rabbitmq.url, rabbit: config.rabbitmq, names, spoolDir: path.join(o.workdir, ".report-spool"), logger });
  // One signer for the job's reports and the identity switch's audit records alike.
  const reports = new AttemptReportSigner(publisher);
  // The pilot authenticates to the credential cache with its pilot certificate (the cache's
  // retrieval policy admits the pilot role); without one, retrievals are refused with SEC_NOT_AUTHORIZED.
  const caller = o.pilotCert ? { certChain: splitPems(readFileSync(o.pilotCert.certPath, "utf8")), keyPem: readFileSync(o.pilotCert.keyPath, "utf8") } : undefined;
  // SCAS-style pool leases, which every node of the site must see, come from the pool-lease
  // service over NATS: a pilot holds no Redis credentials. Its requests are signed with the report
  // key the matchmaker binds to each attempt this pilot holds.
  const pool =
    site.identitySwitch !== "off" && site.mapping.some((m) => m.type === "pool")
      ? new PoolLeaseClient(nc, names, { site: site.name, sign: (text) => reports.signRequest(POOL_LEASE_SIGN_PURPOSE, text) })
      : undefined;
  const audit = (r: Parameters<ReportPublisher["publish"]>[0]): Promise<void> => reports.publish(r);
  const mapper = site.identitySwitch !== "off" && site.mapping.length > 0 ? new AccountMapper({ site, names, node: os.hostname(), audit, pool }) : undefined;
  try {
    return await runPilot({
      nc,
      names,
      reports,
      credentials: new CredentialClient(nc, names, { trust, caller, proxyKeyBits: config.credentials.proxyKeyBits }),
      trust,
      site,
      token: o.token,
      workdir: o.workdir,
      pilotId: o.pilotId,
      walltimeSec: o.walltimeSec,
      env: o.env,
      maxEmpty: o.maxEmpty,
      maxBackoffSec: o.maxBackoffSec,
      maxUnansweredSec: o.maxUnansweredSec,
      heartbeatSec: config.jobs.heartbeatSec,
      leaseSec: config.jobs.leaseSec,
      pilotCert: o.pilotCert,
      switchLauncher: identitySwitchLauncher({ site, trust, mapper, audit }),
      census: natsCensus(nc, names, { queue: o.queue, factoryId: o.factoryId, repeatMs: (o.censusSec ?? 30) * 1000, token: o.token }),
      keepJobDirs: o.keepJobDirs,
      signal: o.signal,
      logger,
    });
  } finally {
    // Whatever RabbitMQ could not confirm stays in the spool for the next pilot on this node.
    await publisher.flush(10_000);
    await publisher.close();
    await nc.drain().catch(() => undefined);
  }
}
