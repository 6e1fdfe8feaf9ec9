// Picks how a job's payload starts from the site's `identitySwitch` policy: the switch is
// mandatory only where the site's metadata says so, as a gLExec site decides for itself. Pure.
import { ERR, WmsError, type Site } from "../../schemas/index.ts";
import { directLauncher, type PayloadLauncher } from "./payload-launcher.ts";

/**
 * `required`: the switch or nothing (SWITCH_REQUIRED when this pilot cannot switch);
 * `optional`: the switch when this pilot can, else as itself; `off`: as itself.
 */
export function chooseLauncher(site: Site, switchLauncher: PayloadLauncher | undefined): PayloadLauncher {
  if (site.identitySwitch === "off") return directLauncher;
  if (switchLauncher) return switchLauncher;
  if (site.identitySwitch === "optional") return directLauncher;
  throw new WmsError(ERR.SWITCH_REQUIRED, `site ${site.name} requires the identity switch; run the pilot as root (or with the site-authz switch configured)`);
}
