// What the retrieval tests start from: a credential cache on its own identity with a PKI of its
// own, Jane's proxy delegated to it by her `wms` (operator role; retrievers `role:pilot`), the
// pilots' NATS connection, and one-time keys minted as the matchmaker mints them. The job's state
// owner is the test's (`jobs`), so a test decides which attempt is live, or holds the answer back.
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import { startCredentialCache, CredentialClient, type CredentialCache, type CredentialCacheDeps } from "../../../agents/credentials/index.ts";
import type { LoadedConfig } from "../../../platform/config.ts";
import type { RedisClient } from "../../../platform/redis-client.ts";
import type { WmsConfig } from "../../../schemas/index.ts";
import { createProxy, ONE_TIME_KEY_SEAL_PURPOSE, OneTimeKeyStore, pkiSealKeys, ServiceSealer } from "../../../security/index.ts";
import { openNatsAs, openRedisAs } from "../../support/live-services.ts";
import { deleteNamespaceKeys } from "../../support/redis-cleanup.ts";
import { asRole } from "../../support/test-roles.ts";
import { BITS, buildPki, USER_DN, type PkiFixture } from "./pki-fixture.ts";

export const STAGE_SITE = "SITE_A";

/** A retrieval's binding with its one-time key: Jane's job, attempt 1, on pilot-1 at STAGE_SITE. */
export interface MintedKey {
  readonly oneTimeKey: string;
  readonly userDn: string;
  readonly jobId: string;
  readonly pilotId: string;
  readonly attempt: number;
}

export interface CredentialStage {
  readonly pki: PkiFixture;
  /** The cache's config (credentials role, the stage's PKI, a fresh sealing key, one renewal). */
  readonly config: WmsConfig;
  readonly cache: CredentialCache;
  readonly pilotNc: NatsConnection;
  /** The matchmaker's Redis. */
  readonly mmRedis: RedisClient;
  /** A one-time key for `jobId` (attempt 1, pilot-1, Jane), sealed as the matchmaker seals it. */
  mint(jobId: string): Promise<MintedKey>;
  stop(): Promise<void>;
}

export async function startCredentialStage(
  loaded: LoadedConfig,
  label: string,
  o: {
    jobs: NonNullable<CredentialCacheDeps["jobs"]>;
    /** The cache's Redis, opened from its config (default: the credentials role's, as configured). */
    cacheRedis?: (config: WmsConfig) => RedisClient;
    logger?: CredentialCacheDeps["logger"];
    reports?: CredentialCacheDeps["reports"];
  },
): Promise<CredentialStage> {
  const { names } = loaded;
  const pki = buildPki();
  const role = asRole(loaded, "credentials").config;
  const config: WmsConfig = { ...role, pki: { ...role.pki, dir: pki.dir }, credentials: { ...role.credentials, encryptionKey: randomBytes(32).toString("base64"), maxRenewals: 1, proxyKeyBits: BITS } };
  const cacheRedis = o.cacheRedis?.(config) ?? openRedisAs(loaded, "credentials");
  const mmRedis = openRedisAs(loaded, "matchmaker");
  const cacheNc = await openNatsAs(loaded, "credentials", `test-${label}`);
  const userNc = await openNatsAs(loaded, "operator", `test-${label}-user`);
  const pilotNc = await openNatsAs(loaded, "pilot", `test-${label}-pilot`);
  const cache = startCredentialCache({ nc: cacheNc, redis: cacheRedis, names, config, trust: pki.trust, jobs: o.jobs, logger: o.logger, reports: o.reports });
  await cache.ready;
  const userProxy = createProxy({ certPem: pki.user.certPem, keyPem: pki.user.keyPem, lifetimeSec: 3600, keyBits: BITS });
  await new CredentialClient(userNc, names, { trust: pki.trust }).delegate({ certChain: userProxy.chain, keyPem: userProxy.keyPem }, { retrievers: ["role:pilot"], lifetimeSec: 3600 });
  const minting = new OneTimeKeyStore(mmRedis, names, { maxRenewals: 1, sealer: new ServiceSealer(pkiSealKeys(pki.dir).oneTimeKey, ONE_TIME_KEY_SEAL_PURPOSE) });
  return {
    pki,
    config,
    cache,
    pilotNc,
    mmRedis,
    async mint(jobId) {
      const b = { userDn: USER_DN, jobId, pilotId: "pilot-1", attempt: 1 };
      return { ...b, oneTimeKey: await minting.mint({ ...b, site: STAGE_SITE, ttlSec: 60 }) };
    },
    async stop() {
      await cache.stop();
      await Promise.all([cacheNc, userNc, pilotNc].map((c) => c.close()));
      await deleteNamespaceKeys(mmRedis, names.namespace);
      cacheRedis.disconnect();
      mmRedis.disconnect();
      pki.cleanup();
    },
  };
}
