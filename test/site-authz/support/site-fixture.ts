import type { Site } from "../../../schemas/index.ts";

/** A site with the schema's defaults, overridden where a test cares. */
export function siteWith(over: Partial<Site>): Site {
  return { name: "SITE_A", storagePath: "/nonexistent", online: true, identitySwitch: "off", capacity: 10, softwareTags: [], authz: [], mapping: [], ...over };
}

export const CA = "/DC=org/DC=pilot-wms/CN=Test CA";
export const OTHER_CA = "/DC=org/DC=elsewhere/CN=Rogue CA";

export function identity(cn: string, over: Partial<{ caDn: string; vo: string; groups: string[]; roles: string[] }> = {}) {
  return { dn: `/DC=org/DC=pilot-wms/CN=${cn}`, caDn: CA, vo: "atlas", groups: ["/atlas"], roles: [] as string[], ...over };
}
