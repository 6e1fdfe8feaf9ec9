// One matchmaker service on the loopback servers, in a namespace of its own, with a fresh PKI.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import type { Site } from "../../schemas/index.ts";
import { createBatchEnvelopeSigner, initPki, loadTrust, PilotTokenStore, readServiceCredentials, type TrustStore, pkiSealKeys } from "../../security/index.ts";
import { JobStore } from "../../jobs/index.ts";
import { DispatchQueues } from "../../jobs/index.ts";
import { startMatchmaker, type MatchmakerHandle } from "../../matchmaker/matchmaker-service.ts";
import { testConfig } from "../support/namespace.ts";
import { SealedJobStore } from "../support/sealed-dispatch.ts";
import { openLiveServices, openNatsAs } from "../support/live-services.ts";
import type { TransportRole } from "../../security/index.ts";

export interface Harness {
  loaded: LoadedConfig;
  pkiDir: string;
  /** The pilots' NATS connection (the pilot role): what TestPilots advertise on. */
  nc: NatsConnection;
  redis: RedisClient;
  store: JobStore;
  dispatch: DispatchQueues;
  trust: TrustStore;
  tokens: PilotTokenStore;
  mm?: MatchmakerHandle;
  token(site: string, uses?: number): Promise<string>;
  /** Another NATS connection as ROLE (a credential cache, a delegating user), closed with the harness. */
  connect(role: TransportRole): Promise<NatsConnection>;
  close(): Promise<void>;
}

/**
 * `serveSites`: the sites whose subjects the matchmaker takes (config `matchmaker.sites`; default all).
 * `matchmaker`: other `matchmaker:` config values.
 */
export async function startHarness(
  label: string,
  o: { lockMs?: number; stalledIntervalMs?: number; serve?: boolean; sites?: Site[]; serveSites?: string[]; matchmaker?: Partial<LoadedConfig["config"]["matchmaker"]> } = {},
): Promise<Harness> {
  const loaded = testConfig(label);
  const pkiDir = mkdtempSync(join(tmpdir(), "wms-mm-pki-"));
  initPki(pkiDir);
  // The matchmaker's own connections, and the pilots' NATS connection as the pilot role.
  const live = await openLiveServices(loaded, `test-${label}`, { as: "matchmaker" });
  const { redis } = live;
  const nc = await openNatsAs(loaded, "pilot", `test-${label}-pilots`);
  const extra: NatsConnection[] = [];
  const connect = async (role: TransportRole): Promise<NatsConnection> => {
    const c = await openNatsAs(loaded, role, `test-${label}-${role}`);
    extra.push(c);
    return c;
  };
  // Specs are sealed as the intake seals them: the matchmaker signs no envelope for an unsealed one.
  const store: JobStore = new SealedJobStore(redis, loaded.names, pkiDir);
  const dispatch = new DispatchQueues({ redis, names: loaded.names, lockMs: o.lockMs ?? 30_000, stalledIntervalMs: o.stalledIntervalMs ?? 30_000 });
  const tokens = new PilotTokenStore(redis, loaded.names);
  const svc = readServiceCredentials(pkiDir, "matchmaker");
  const mm =
    o.serve === false
      ? undefined
      : await startMatchmaker({
          nc: live.nc,
          redis,
          names: loaded.names,
          config: o.serveSites || o.matchmaker ? { ...loaded.config, matchmaker: { ...loaded.config.matchmaker, ...o.matchmaker, ...(o.serveSites && { sites: o.serveSites }) } } : loaded.config,
          signer: createBatchEnvelopeSigner({ certPem: svc.certPem, keyPem: svc.keyPem }),
          lockMs: o.lockMs,
          stalledIntervalMs: o.stalledIntervalMs,
          sites: o.sites,
          sealKeys: pkiSealKeys(pkiDir),
        });
  return {
    loaded,
    pkiDir,
    nc,
    redis,
    store,
    dispatch,
    trust: loadTrust(pkiDir),
    tokens,
    mm,
    connect,
    token: (site, uses = 100) => tokens.mint({ site, factoryId: "test-factory", uses, ttlSec: 600 }),
    async close() {
      await mm?.stop();
      await dispatch.close();
      await nc.close();
      await Promise.all(extra.map((c) => c.close()));
      await live.close();
      rmSync(pkiDir, { recursive: true, force: true });
    },
  };
}
