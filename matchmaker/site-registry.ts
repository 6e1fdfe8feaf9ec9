// The sites every process sees: the site config file (`config.sitesFile`) published to Redis
// (`<ns>:sites`, a hash site name → Site JSON), so the intake, `wms replica` and any other reader
// agree on which sites exist, which are online and their capacity. Edge module.
import type { RedisClient } from "../platform/redis-client.ts";
import { readDataFile } from "../platform/config.ts";
import { ERR, SiteConfig, WmsError, type Site, type WireNames } from "../schemas/index.ts";

/** Reads and validates a SiteConfig YAML/JSON file; a site named twice is a config error. */
export function loadSiteConfig(path: string): SiteConfig {
  const data = readDataFile(path, ERR.BAD_CONFIG);
  const problems = SiteConfig.problems(data);
  if (problems !== undefined) throw new WmsError(ERR.BAD_CONFIG, `${path}: ${problems}`);
  const config = data as SiteConfig;
  const seen = new Set<string>();
  for (const s of config.sites) {
    if (seen.has(s.name)) throw new WmsError(ERR.BAD_CONFIG, `${path}: site ${s.name} is defined twice`);
    seen.add(s.name);
  }
  return config;
}

export class SiteRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
  ) {}

  private get key(): string {
    return this.names.redisKey("sites");
  }

  /** Replaces the published sites with the config's, in one MULTI so no reader sees half a list. */
  async publish(config: SiteConfig): Promise<void> {
    const m = this.redis.multi();
    m.del(this.key);
    if (config.sites.length > 0) m.hset(this.key, Object.fromEntries(config.sites.map((s) => [s.name, JSON.stringify(s)])));
    const res = await m.exec();
    for (const [err] of res ?? []) if (err) throw err;
  }

  /** Every published site, by name. */
  async list(): Promise<Site[]> {
    const h = await this.redis.hgetall(this.key);
    return Object.keys(h)
      .sort()
      .map((name) => JSON.parse(h[name]) as Site);
  }

  async get(name: string): Promise<Site | undefined> {
    const json = await this.redis.hget(this.key, name);
    return json === null ? undefined : (JSON.parse(json) as Site);
  }

  /** Takes a site out of (or back into) brokerage without editing the config file. */
  async setOnline(name: string, online: boolean): Promise<Site> {
    const site = await this.get(name);
    if (!site) throw new WmsError(ERR.NOT_FOUND, `site ${name} is not published; check the site config (config.sitesFile)`);
    const updated = { ...site, online };
    await this.redis.hset(this.key, name, JSON.stringify(updated));
    return updated;
  }

  /**
   * The published sites, or — when nothing is published yet — the config file's, published now, so
   * the first command after a fresh start sees the sites without an extra step.
   */
  async listOrPublish(sitesFile: string | undefined): Promise<Site[]> {
    const sites = await this.list();
    if (sites.length > 0 || sitesFile === undefined) return sites;
    const config = loadSiteConfig(sitesFile);
    await this.publish(config);
    return [...config.sites].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
