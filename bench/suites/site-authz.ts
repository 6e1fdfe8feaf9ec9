import { loadConfig } from "../../platform/config.ts";
import { openRedis } from "../../platform/connections.ts";
import { wireNames, type Site } from "../../schemas/index.ts";
import { authorize, PoolLease } from "../../site-authz/index.ts";
import { opsPerSec, type BenchSuite } from "./suite.ts";

const site: Site = {
  name: "BENCH",
  storagePath: "/srv",
  online: true,
  identitySwitch: "required",
  capacity: 10,
  softwareTags: [],
  authz: [
    { type: "allow-list", dns: [], cas: ["/DC=org/CN=CA"] },
    { type: "ban-list", dns: Array.from({ length: 1000 }, (_, i) => `/DC=org/CN=Banned ${i}`), cas: [] },
    { type: "vo", vos: ["atlas", "cms"], roles: ["pilot", "production"] },
    { type: "walltime", limits: { atlas: 86400 } },
  ],
  mapping: [],
};

/**
 * The matchmaker calls `authorize` per advert (then caches per site+DN): a full 4-plug-in chain
 * (1000 banned DNs) against JSON.parse of the identity, work every advert does anyway. Pool leases go to Redis: one Lua
 * lease (renewal of a held account) against one PING round trip.
 */
export const siteAuthzSuite: BenchSuite = {
  key: "siteAuthz",
  async run() {
    const identity = { dn: "/DC=org/CN=Jane Doe/CN=123456", caDn: "/DC=org/CN=CA", vo: "atlas", groups: ["/atlas"], roles: ["/atlas/Role=production"] };
    const text = JSON.stringify(identity);
    const parse = opsPerSec(() => JSON.parse(text));
    const chain = opsPerSec(() => authorize(site, identity, { walltimeSec: 3600 }));
    const out: Record<string, number | string> = { identityJsonParsePerSec: Math.round(parse), authorizePerSec: Math.round(chain), authorizeCostVsJsonParse: Math.round((parse / chain) * 100) / 100 };
    const { config } = loadConfig({ env: {} });
    const names = wireNames(`benchsiteauthz${process.pid}`);
    const redis = openRedis(config);
    try {
      const pool = new PoolLease(redis, names, "BENCH");
      const accounts = Array.from({ length: 50 }, (_, i) => `pool${i}`);
      await pool.lease(identity.dn, accounts, 3600, "");
      const n = 2000;
      let t = performance.now();
      for (let i = 0; i < n; i++) await redis.ping();
      const pingPerSec = n / ((performance.now() - t) / 1000);
      t = performance.now();
      for (let i = 0; i < n; i++) await pool.lease(identity.dn, accounts, 3600, "");
      const leasePerSec = n / ((performance.now() - t) / 1000);
      Object.assign(out, { redisPingPerSec: Math.round(pingPerSec), poolLeasePerSec: Math.round(leasePerSec), leaseCostVsPing: Math.round((pingPerSec / leasePerSec) * 100) / 100 });
    } catch (e) {
      out.poolLease = `skipped: Redis at ${config.redis.url} does not answer (${(e as Error).message})`;
    } finally {
      await redis.del(names.redisKey("site", "BENCH", "pool")).catch(() => undefined);
      redis.disconnect();
    }
    return out;
  },
};
