// Reads the site config file (`config.sitesFile`) once and validates it where it enters.
import { readDataFile } from "../platform/config.ts";
import { ERR, SiteConfig, WmsError, type Site } from "../schemas/index.ts";

export function loadSiteConfig(file: string | undefined): SiteConfig {
  if (!file) throw new WmsError(ERR.BAD_CONFIG, "no site config file: set sitesFile in wms.yaml or pass --sites-file");
  try {
    return SiteConfig.parse(readDataFile(file));
  } catch (e) {
    if (e instanceof WmsError && e.code === ERR.BAD_INPUT) throw new WmsError(ERR.BAD_CONFIG, `${file}: ${e.detail}`);
    throw e;
  }
}

export function findSite(config: SiteConfig, name: string): Site {
  const site = config.sites.find((s) => s.name === name);
  if (!site) throw new WmsError(ERR.NOT_FOUND, `site '${name}' is not in the site config (known: ${config.sites.map((s) => s.name).join(", ") || "none"})`);
  return site;
}
