// One matchmaker service on the loopback servers, in a namespace of its own, with a fresh PKI.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "nats";
import type { Redis } from "ioredis";
import { openNats, openRedis } from "../../platform/connections.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import type { Site } from "../../schemas/index.ts";
import { createEnvelopeSigner, initPki, loadTrust, PilotTokenStore, readServiceCredentials, type TrustStore } from "../../security/index.ts";
import { JobStore } from "../../matchmaker/job-store.ts";
import { DispatchQueues } from "../../matchmaker/dispatch-queues.ts";
import { startMatchmaker, type MatchmakerHandle } from "../../matchmaker/matchmaker-service.ts";
import { testConfig } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";

export interface Harness {
  loaded: LoadedConfig;
  pkiDir: string;
  nc: NatsConnection;
  redis: Redis;
  bull: Redis;
  store: JobStore;
  dispatch: DispatchQueues;
  trust: TrustStore;
  tokens: PilotTokenStore;
  mm?: MatchmakerHandle;
  token(site: string, uses?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startHarness(label: string, o: { lockMs?: number; stalledIntervalMs?: number; serve?: boolean; sites?: Site[] } = {}): Promise<Harness> {
  const loaded = testConfig(label);
  const pkiDir = mkdtempSync(join(tmpdir(), "wms-mm-pki-"));
  initPki(pkiDir);
  const nc = await openNats(loaded.config, `test-${label}`);
  const redis = openRedis(loaded.config);
  const bull = openRedis(loaded.config, { forBullMq: true });
  const store = new JobStore(redis, loaded.names);
  const dispatch = new DispatchQueues({ connection: bull, names: loaded.names, lockMs: o.lockMs ?? 30_000, stalledIntervalMs: o.stalledIntervalMs ?? 30_000 });
  const tokens = new PilotTokenStore(redis, loaded.names);
  const svc = readServiceCredentials(pkiDir, "matchmaker");
  const mm =
    o.serve === false
      ? undefined
      : await startMatchmaker({
          nc,
          redis,
          bullConnection: bull,
          names: loaded.names,
          config: loaded.config,
          signer: createEnvelopeSigner({ certPem: svc.certPem, keyPem: svc.keyPem }),
          lockMs: o.lockMs,
          stalledIntervalMs: o.stalledIntervalMs,
          sites: o.sites,
        });
  return {
    loaded,
    pkiDir,
    nc,
    redis,
    bull,
    store,
    dispatch,
    trust: loadTrust(pkiDir),
    tokens,
    mm,
    token: (site, uses = 100) => tokens.mint({ site, factoryId: "test-factory", uses, ttlSec: 600 }),
    async close() {
      await mm?.stop();
      await dispatch.close();
      await deleteNamespaceKeys(redis, loaded.config.namespace);
      await nc.close();
      redis.disconnect();
      bull.disconnect();
      rmSync(pkiDir, { recursive: true, force: true });
    },
  };
}
