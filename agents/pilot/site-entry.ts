// Finds the pilot's site in the site configuration file (the same SiteConfig the intake and the
// site-authz read): storagePath, identitySwitch policy and software tags come from it.
import { readDataFile } from "../../platform/config.ts";
import { ERR, SiteConfig, WmsError, type Site } from "../../schemas/index.ts";

export function loadSiteEntry(sitesFile: string | undefined, siteName: string): Site {
  if (sitesFile === undefined) throw new WmsError(ERR.BAD_CONFIG, "no site configuration: pass --sites-file F or set sitesFile in wms.yaml");
  const data = readDataFile(sitesFile, ERR.BAD_CONFIG);
  const problems = SiteConfig.problems(data);
  if (problems !== undefined) throw new WmsError(ERR.BAD_CONFIG, `${sitesFile}: ${problems}`);
  const sites = SiteConfig.parse(data);
  const site = sites.sites.find((s) => s.name === siteName);
  if (!site) throw new WmsError(ERR.NOT_FOUND, `site '${siteName}' is not in ${sitesFile}; known: ${sites.sites.map((s) => s.name).join(", ") || "(none)"}`);
  return site;
}
