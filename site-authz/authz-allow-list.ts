import { ERR, type AuthzPlugin } from "../schemas/index.ts";
import type { CompiledPlugin } from "./authz-step.ts";

type AllowList = Extract<AuthzPlugin, { type: "allow-list" }>;

/** Admits a listed DN or any DN a listed CA issued; everyone else is refused (an empty list admits no one). */
export function compileAllowList(p: AllowList): CompiledPlugin {
  const dns = new Set(p.dns ?? []);
  const cas = new Set(p.cas ?? []);
  return (identity, dn) => {
    if (dns.has(dn)) return { plugin: "allow-list", allowed: true, reason: `DN ${dn} is on the allow list` };
    if (cas.has(identity.caDn)) return { plugin: "allow-list", allowed: true, reason: `CA ${identity.caDn} is on the allow list` };
    return {
      plugin: "allow-list",
      allowed: false,
      code: ERR.AUTHZ_NOT_ALLOWED,
      reason: `neither DN ${dn} nor its CA ${identity.caDn} is on the allow list; ask the site admin to add one of them`,
    };
  };
}
