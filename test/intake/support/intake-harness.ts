// An intake service on the loopback servers, in a namespace of its own, with a fresh PKI and the
// people the tests need: a production manager, two analysis users, a production manager of another
// VO and a pilot.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../../platform/redis-client.ts";
import { createLogger } from "../../../platform/logger.ts";
import type { LoadedConfig } from "../../../platform/config.ts";
import { initPki, issueCertificate, loadTrust, signTaskBatch, type TrustStore, pkiSealKeys } from "../../../security/index.ts";
import { TaskBatch, type SignedTaskBatch, type SiteConfig, type TaskBatch as TaskBatchT, type WmsConfig } from "../../../schemas/index.ts";
import { JobStore } from "../../../jobs/index.ts";
import { DispatchQueues } from "../../../jobs/index.ts";
import { ReplicaCatalogStore } from "../../../matchmaker/replica-catalog.ts";
import { SiteRegistry } from "../../../matchmaker/site-registry.ts";
import { startIntake, type IntakeService } from "../../../matchmaker/intake-service.ts";
import type { OwnerCredentialLookup } from "../../../matchmaker/intake-credential-check.ts";
import { TaskClient } from "../../../matchmaker/task-client.ts";
import { createIntakeContext } from "../../../matchmaker/intake-context.ts";
import { OpenTaskPlanner } from "../../../matchmaker/open-task-planner.ts";
import { newTaskControl, signTaskControl } from "../../../matchmaker/task-control.ts";
import { testConfig } from "../../support/namespace.ts";
import { openLiveServices, openNatsAs } from "../../support/live-services.ts";
import type { TransportRole } from "../../../security/index.ts";

export interface Person {
  dn: string;
  certChain: string[];
  keyPem: string;
}

export const VO = "atlas";
/** The user the quota tests put over their quota (quotas are keyed by DN, so the DN is fixed). */
export const QUOTA_USER_CN = "Quentin Quota";
export const QUOTA_USER_DN = `/DC=org/DC=pilot-wms/OU=${VO}/CN=${QUOTA_USER_CN}`;

export interface IntakeHarness {
  loaded: LoadedConfig;
  pkiDir: string;
  /** The submitters' NATS connection (the operator role, as `wms task submit` has). */
  nc: NatsConnection;
  redis: RedisClient;
  trust: TrustStore;
  jobs: JobStore;
  dispatch: DispatchQueues;
  catalog: ReplicaCatalogStore;
  sites: SiteRegistry;
  client: TaskClient;
  people: { prod: Person; alice: Person; bob: Person; cmsProd: Person; pilot: Person; quentin: Person };
  batch(over?: Record<string, unknown>): TaskBatchT;
  sign(batch: TaskBatchT, who: Person): SignedTaskBatch;
  cancel(taskId: string, who: Person): ReturnType<TaskClient["control"]>;
  retry(taskId: string, who: Person): ReturnType<TaskClient["control"]>;
  /** A planner of open tasks as another intake instance runs it (same Redis, same seal key). */
  planner(): OpenTaskPlanner;
  /** Another NATS connection as ROLE (a credential cache, say), closed with the harness. */
  connect(role: TransportRole): Promise<NatsConnection>;
  close(): Promise<void>;
}

export function siteConfig(sites: Array<{ name: string; capacity?: number; online?: boolean }>): SiteConfig {
  return {
    schemaVersion: 1,
    sites: sites.map((s) => ({ name: s.name, storagePath: `/storage/${s.name}`, online: s.online ?? true, identitySwitch: "off", capacity: s.capacity ?? 100, softwareTags: [], authz: [], mapping: [] })),
  };
}

export async function startIntakeHarness(label: string, o: { quotas?: WmsConfig["quotas"]; credentials?: OwnerCredentialLookup; openTaskPollMs?: number } = {}): Promise<IntakeHarness> {
  const base = testConfig(label);
  const loaded: LoadedConfig = { ...base, config: { ...base.config, quotas: o.quotas ?? base.config.quotas } };
  const pkiDir = mkdtempSync(join(tmpdir(), "wms-intake-pki-"));
  initPki(pkiDir, { vo: VO });
  const person = (cn: string, roles: string[], extra: { kind?: "user" | "pilot"; vo?: string } = {}): Person => {
    const dn = `/DC=org/DC=pilot-wms/OU=${extra.vo ?? VO}/CN=${cn}`;
    const c = issueCertificate({ caDir: pkiDir, kind: extra.kind ?? "user", dn, roles, groups: ["phys", "heavy"], vo: extra.vo, days: 2 });
    return { dn, certChain: [c.certPem], keyPem: c.keyPem };
  };
  const people = {
    prod: person("Paula Prod", ["production"]),
    alice: person("Alice Analysis", ["user"]),
    bob: person("Bob Analysis", ["user"]),
    cmsProd: person("Carl CMS", ["production"], { vo: "cms" }),
    pilot: person("pilot-1", ["pilot"], { kind: "pilot" }),
    quentin: person(QUOTA_USER_CN, ["user"]),
  };
  let batches = 0;
  const trust = loadTrust(pkiDir);
  // The intake's own connections; submitters talk to it from an operator's connection.
  const live = await openLiveServices(loaded, `test-${label}`, { as: "intake" });
  const { redis } = live;
  const extra: NatsConnection[] = [];
  const connect = async (role: TransportRole): Promise<NatsConnection> => {
    const c = await openNatsAs(loaded, role, `test-${label}-${role}`);
    extra.push(c);
    return c;
  };
  const nc = await connect("operator");
  const dispatch = new DispatchQueues({ redis, names: loaded.names, lockMs: 30_000, stalledIntervalMs: 30_000 });
  const service: IntakeService = await startIntake({ nc: live.nc, redis, names: loaded.names, config: loaded.config, trust, dispatch, logger: createLogger("intake-test", "silent"), credentials: o.credentials, specSealKeys: pkiSealKeys(pkiDir).jobSpec, openTaskPollMs: o.openTaskPollMs });
  const client = new TaskClient(nc, loaded.names);
  const control = (action: "cancel" | "retry") => (taskId: string, who: Person) => client.control(signTaskControl(newTaskControl(action, taskId), who));
  return {
    loaded,
    pkiDir,
    nc,
    redis,
    trust,
    jobs: new JobStore(redis, loaded.names),
    dispatch,
    catalog: new ReplicaCatalogStore(redis, loaded.names),
    sites: new SiteRegistry(redis, loaded.names),
    client,
    people,
    batch: (over = {}) => TaskBatch.parse({ schemaVersion: 1, taskName: `reco.${++batches}`, vo: VO, group: "", inputDatasets: ["ds.a"], outputDataset: "out.ds", jobTemplate: { executable: "/bin/true" }, ...over }),
    sign: (batch, who) => signTaskBatch(batch, who),
    cancel: control("cancel"),
    retry: control("retry"),
    connect,
    planner: () => new OpenTaskPlanner(createIntakeContext({ redis, names: loaded.names, config: loaded.config, trust, dispatch, logger: createLogger("intake-test", "silent"), specSealKeys: pkiSealKeys(pkiDir).jobSpec })),
    async close() {
      await service.stop();
      await dispatch.close();
      await Promise.all(extra.map((c) => c.close()));
      await live.close();
      rmSync(pkiDir, { recursive: true, force: true });
    },
  };
}

export function lfns(prefix: string, n: number): Array<{ lfn: string; size: number; adler32: string; md5: string }> {
  return Array.from({ length: n }, (_, i) => ({ lfn: `${prefix}/f${String(i).padStart(5, "0")}`, size: 100 + i, adler32: "00000001", md5: "0".repeat(32) }));
}
