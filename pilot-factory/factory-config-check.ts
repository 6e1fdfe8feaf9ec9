// Checks a factory config against the deployment before anything runs: a queue for a site the
// site configuration does not have would submit pilots that die at start (they cannot find their
// site entry) and keep the queue PENDING forever. Pure.
import { ERR, WmsError, type FactoryConfig } from "../schemas/index.ts";

/**
 * Throws FACTORY_UNKNOWN_SITE naming the first queue whose site is not among `knownSites`, and
 * BAD_CONFIG for a queue name used twice. `knownSites` undefined: the sites are not known here, only
 * the names are checked.
 */
export function checkFactoryConfig(config: FactoryConfig, knownSites: readonly string[] | undefined, source = `factory ${config.factoryId}`): void {
  const seen = new Set<string>();
  for (const q of config.queues) {
    if (seen.has(q.name)) throw new WmsError(ERR.BAD_CONFIG, `${source}: queue '${q.name}' is defined twice`);
    seen.add(q.name);
    if (knownSites !== undefined && !knownSites.includes(q.site)) {
      const known = knownSites.length > 0 ? [...knownSites].sort().join(", ") : "(none)";
      throw new WmsError(ERR.FACTORY_UNKNOWN_SITE, `${source}: queue '${q.name}' names site '${q.site}', which the site configuration does not have; known sites: ${known}`);
    }
  }
}
