import { ERR, type AuthzPlugin } from "../schemas/index.ts";
import type { CompiledPlugin } from "./authz-step.ts";

type BanList = Extract<AuthzPlugin, { type: "ban-list" }>;

/** Refuses a DN on the list, or any DN whose certificate a listed CA issued. */
export function compileBanList(p: BanList): CompiledPlugin {
  const dns = new Set(p.dns ?? []);
  const cas = new Set(p.cas ?? []);
  return (identity, dn) => {
    if (dns.has(dn)) return { plugin: "ban-list", allowed: false, code: ERR.AUTHZ_BANNED, reason: `DN ${dn} is banned at this site` };
    if (cas.has(identity.caDn)) return { plugin: "ban-list", allowed: false, code: ERR.AUTHZ_BANNED, reason: `certificates of CA ${identity.caDn} are banned at this site` };
    return { plugin: "ban-list", allowed: true, reason: "neither the DN nor its CA is banned" };
  };
}
