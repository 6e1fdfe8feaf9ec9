// Everything a pilot test stands on, against the real NATS and RabbitMQ: a fresh namespace, a real
// PKI (`initPki`), a user certificate and proxy, a site storage dir with catalogued input files,
// the real credential cache holding the user's delegated proxy, a matchmaker stand-in that signs
// real envelopes and mints real one-time keys, a report collector on the test's own queue.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import type amqp from "amqplib";
import { openNats, openRabbit, openRedis } from "../../../platform/connections.ts";
import { createLogger } from "../../../platform/logger.ts";
import { fileChecksums } from "../../../platform/checksums.ts";
import { SCHEMA_VERSION, type JobSpec, type Site, type WireNames, type WmsConfig } from "../../../schemas/index.ts";
import {
  createEnvelopeSigner,
  initPki,
  issueCertificate,
  JOB_SPEC_SEAL_PURPOSE,
  loadTrust,
  ONE_TIME_KEY_SEAL_PURPOSE,
  OneTimeKeyStore,
  PilotTokenStore,
  readServiceCredentials,
  sealJobSpec,
  ServiceSealer,
  type TransportRole,
  type TrustStore,
  pkiSealKeys,
} from "../../../security/index.ts";
import { startMatchmaker } from "../../../matchmaker/index.ts";
import { JobStore } from "../../../jobs/index.ts";

import { CredentialClient, startCredentialCache } from "../../../agents/credentials/index.ts";
import { declareTopology, deleteTopology, ReportPublisher } from "../../../agents/reports/index.ts";
import type { CredentialRequest, CredentialSource, PilotOptions, RetrievedProxy } from "../../../agents/pilot/index.ts";
import { testConfig } from "../../support/namespace.ts";
import { asRole } from "../../support/test-roles.ts";
import { deleteNamespaceKeys } from "../../support/redis-cleanup.ts";
import { collectReports, type ReportCollector } from "./report-collector.ts";
import { startTestMatchmaker, type OfferedJob, type TestMatchmaker } from "./test-matchmaker.ts";

export const USER_DN = "/DC=org/DC=pilot-wms/OU=pilot-wms/CN=Jane Doe";

export interface PilotFixture {
  readonly names: WireNames;
  readonly rabbitUrl: string;
  /** The pilot's RabbitMQ identity (publish reports only), for publishers a test makes itself. */
  readonly pilotRabbit: Omit<WmsConfig["rabbitmq"], "url">;
  /** The pilot's NATS connection (the pilot role). */
  readonly nc: NatsConnection;
  readonly rabbit: amqp.ChannelModel;
  readonly root: string;
  readonly pkiDir: string;
  readonly trust: TrustStore;
  readonly storage: string;
  readonly workdir: string;
  readonly site: Site;
  /** The stand-in (absent with the real matchmaker). */
  readonly matchmaker: TestMatchmaker;
  /** Set with `matchmaker: "real"`. */
  readonly real?: RealMatchmaker;
  readonly reports: ReportCollector;
  readonly credentials: CredentialSource & { readonly retrieved: CredentialRequest[]; readonly renewed: CredentialRequest[] };
  publisher(opts?: { url?: string; spoolDir?: string }): ReportPublisher;
  /** Options for `runPilot` on this fixture (a fresh publisher unless `over.reports`), quick timings. */
  pilotOptions(over?: Partial<PilotOptions>): PilotOptions;
  /** Writes files into the site storage and returns their catalog entries. */
  catalog(files: Record<string, string>): Promise<JobSpec["inputFiles"]>;
  /** A job for this site (offer it to put it on the stand-in matchmaker's list). */
  job(over: Partial<JobSpec>): JobSpec;
  offer(job: JobSpec, extra?: Pick<OfferedJob, "tamper" | "cancelAtBeat" | "encryptedKeys">): void;
  close(): Promise<void>;
}

export interface RealMatchmaker {
  readonly store: JobStore;
  /** Records the job in the JobStore and puts it on its site queue, as the intake does. */
  enqueue(job: JobSpec): Promise<void>;
  /** A pilot token minted as the factory does. */
  token(uses?: number): Promise<string>;
}

/**
 * `matchmaker: "real"` starts the real matchmaker service (the jobs core's dispatch queues, pilot tokens,
 * one-time keys) instead of the stand-in; `fx.real` then enqueues jobs and mints tokens.
 */
export async function pilotFixture(label: string, siteOver: Partial<Site> = {}, opts: { matchmaker?: "stand-in" | "real" } = {}): Promise<PilotFixture> {
  // Each party connects as its role: the pilot (nc, its report publishers), the matchmaker or its
  // stand-in, the credential cache, the user delegating (operator), the report collector (agents).
  const loaded = testConfig(label);
  const { config, names } = loaded;
  const as = (role: TransportRole): WmsConfig => asRole(loaded, role).config;
  const nc = await openNats(as("pilot"), `test-${label}`);
  const mmNc = await openNats(as("matchmaker"), `test-${label}-matchmaker`);
  const cacheNc = await openNats(as("credentials"), `test-${label}-credentials`);
  const userNc = await openNats(as("operator"), `test-${label}-user`);
  const rabbit = await openRabbit(as("agents"));
  const root = mkdtempSync(path.join(os.tmpdir(), `pilot-${label}-`));
  const pkiDir = path.join(root, "pki");
  initPki(pkiDir);
  const trust = loadTrust(pkiDir);
  const user = issueCertificate({ caDir: pkiDir, kind: "user", dn: USER_DN, roles: [] });
  const storage = path.join(root, "storage");
  const workdir = path.join(root, "work");
  mkdirSync(path.join(storage, "data.raw"), { recursive: true });
  mkdirSync(workdir, { recursive: true });
  const site: Site = { name: "SITE_T", storagePath: storage, online: true, identitySwitch: "off", capacity: 10, softwareTags: ["sw-1"], authz: [], mapping: [], ...siteOver };
  // The reports topology as `wms agents` declares it before pilots publish: a pilot's RabbitMQ user
  // may only check it exists, not declare it.
  const topo = await rabbit.createChannel();
  await declareTopology(topo, names);
  await topo.close();
  const reports = await collectReports(rabbit, names);
  const publishers: ReportPublisher[] = [];
  const logger = createLogger("pilot-test", "silent");

  // The real credential cache: Jane delegates a proxy that any pilot-role certificate may
  // retrieve with a job's one-time key; the pilot authenticates with a pilot certificate.
  const redis = openRedis(as("matchmaker"));
  // With the stand-in matchmaker there is no JobStore record: the attempts it minted keys for are the live ones.
  const minted = new Map<string, { state: string; attempt: number; pilotId: string; site: string }>();
  const jobs = opts.matchmaker === "real" ? undefined : { attemptOf: async (jobId: string) => minted.get(jobId) };
  const cache = startCredentialCache({ nc: cacheNc, redis, names, config: { ...config, pki: { dir: pkiDir }, credentials: { ...config.credentials, encryptionKey: randomBytes(32).toString("base64"), proxyKeyBits: 1024 } }, trust, jobs });
  await cache.ready;
  await new CredentialClient(userNc, names, { trust }).delegate({ certChain: [user.certPem], keyPem: user.keyPem }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
  const pilotCert = issueCertificate({ caDir: pkiDir, kind: "pilot", dn: "/DC=org/DC=pilot-wms/OU=pilot-wms/CN=test pilot", roles: ["pilot"] });
  const client = new CredentialClient(nc, names, { trust, caller: { certChain: [pilotCert.certPem], keyPem: pilotCert.keyPem }, proxyKeyBits: 1024 });
  const service = readServiceCredentials(pkiDir, "matchmaker");
  const keySealer = new ServiceSealer(pkiSealKeys(pkiDir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE);
  const keys = new OneTimeKeyStore(redis, names, { maxRenewals: config.credentials.maxRenewals, sealer: keySealer });
  const intakeSealer = new ServiceSealer(pkiSealKeys(pkiDir).jobSpec, JOB_SPEC_SEAL_PURPOSE);
  let matchmaker: TestMatchmaker | undefined;
  let real: (RealMatchmaker & { stop(): Promise<void> }) | undefined;
  if (opts.matchmaker === "real") {
    const store = new JobStore(redis, names);
    const mm = await startMatchmaker({ nc: mmNc, redis, names, config, signer: createEnvelopeSigner(service), sites: [site], sealKeys: pkiSealKeys(pkiDir) });
    const tokens = new PilotTokenStore(redis, names);
    real = {
      store,
      async enqueue(job) {
        // As the intake queues it: sealed.
        const sealed = sealJobSpec(intakeSealer, job);
        await store.createTask(
          { taskId: job.taskId, taskName: job.taskName, kind: job.kind, vo: job.vo, group: job.group, ownerDn: job.userDn, priority: job.priority, maxAttempts: job.maxAttempts, outputDataset: job.outputDataset },
          [{ spec: sealed, state: "activated" }],
        );
        await mm.dispatch.enqueue([sealed]);
      },
      token: (uses = 5) => tokens.mint({ site: site.name, factoryId: "test-factory", uses, ttlSec: 600 }),
      async stop() {
        await mm.stop();
      },
    };
  } else
    matchmaker = startTestMatchmaker(mmNc, names, service, (job, pilotId) => {
      minted.set(job.jobId, { state: "running", attempt: job.attempt, pilotId, site: job.site });
      return Promise.resolve(keys.mint({ userDn: job.userDn, jobId: job.jobId, pilotId, attempt: job.attempt, site: job.site, ttlSec: 60 }));
    });
  const retrieved: CredentialRequest[] = [];
  const renewed: CredentialRequest[] = [];
  const credentials = {
    retrieved,
    renewed,
    async retrieve(req: CredentialRequest): Promise<RetrievedProxy> {
      const got = await client.retrieve(req);
      retrieved.push(req);
      return got;
    },
    async renew(req: CredentialRequest): Promise<RetrievedProxy> {
      const got = await client.renew(req);
      renewed.push(req);
      return got;
    },
  };

  const publisher = (o: { url?: string; spoolDir?: string } = {}): ReportPublisher => {
    const p = new ReportPublisher({ url: o.url ?? config.rabbitmq.url, rabbit: as("pilot").rabbitmq, names, spoolDir: o.spoolDir ?? path.join(root, `spool-${publishers.length}`), logger, retryMaxMs: 500 });
    publishers.push(p);
    return p;
  };

  return {
    names,
    rabbitUrl: config.rabbitmq.url,
    pilotRabbit: as("pilot").rabbitmq,
    nc,
    rabbit,
    root,
    pkiDir,
    trust,
    storage,
    workdir,
    site,
    // Tests that use the real matchmaker never touch the stand-in.
    matchmaker: matchmaker as TestMatchmaker,
    real,
    reports,
    credentials,
    publisher,
    pilotOptions(over: Partial<PilotOptions> = {}): PilotOptions {
      return {
        nc,
        names,
        reports: over.reports ?? publisher(),
        credentials,
        trust,
        site,
        token: "test-token-0123456789abcdef",
        workdir,
        env: { PATH: process.env.PATH },
        maxEmpty: 1,
        maxBackoffSec: 0.05,
        heartbeatSec: 0.3,
        ...over,
      };
    },
    async catalog(files) {
      const out: JobSpec["inputFiles"] = [];
      for (const [lfn, content] of Object.entries(files)) {
        const p = path.join(storage, lfn);
        mkdirSync(path.dirname(p), { recursive: true });
        writeFileSync(p, content);
        const s = await fileChecksums(p);
        out.push({ lfn, dataset: lfn.split("/")[0], size: s.size, adler32: s.adler32, md5: s.md5 });
      }
      return out;
    },
    job(over) {
      return {
        schemaVersion: SCHEMA_VERSION,
        // <taskId>.<n>, as the intake names jobs: the jobs core finds a job's task slot from its id.
        jobId: `task-1.${randomBytes(4).toString("hex")}`,
        taskId: "task-1",
        taskName: "test.task",
        kind: "analysis",
        vo: "pilot-wms",
        group: "",
        userDn: USER_DN,
        priority: 0,
        site: site.name,
        executable: "/bin/sh",
        arguments: ["-c", "echo hello > \"$WMS_OUTPUT_DIR/hello.txt\""],
        environment: {},
        requirements: "true",
        rank: "0",
        cores: 1,
        memoryMb: 2000,
        walltimeSec: 60,
        inputFiles: [],
        outputDataset: "user.jane.out",
        attempt: 1,
        maxAttempts: 3,
        ...over,
      };
    },
    offer(job, extra = {}) {
      matchmaker?.offer({ job, submitterDn: job.userDn, ...extra });
    },
    async close() {
      matchmaker?.stop();
      await real?.stop();
      await cache.stop();
      await deleteNamespaceKeys(redis, names.namespace);
      redis.disconnect();
      for (const p of publishers) await p.close();
      await reports.close();
      const ch = await rabbit.createChannel();
      await deleteTopology(ch, names).catch(() => undefined);
      await ch.close().catch(() => undefined);
      await rabbit.close();
      await nc.drain();
      await Promise.all([mmNc.drain(), cacheNc.drain(), userNc.drain()]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
