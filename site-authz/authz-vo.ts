import { ERR, type AuthzPlugin } from "../schemas/index.ts";
import { roleNames } from "./grid-identity.ts";
import type { CompiledPlugin } from "./authz-step.ts";

type VoPlugin = Extract<AuthzPlugin, { type: "vo" }>;

/**
 * The VOMS module: the VO must be accepted; when the site lists groups (or roles), the identity
 * must hold at least one of them, as signed in its attribute certificate.
 */
export function compileVo(p: VoPlugin): CompiledPlugin {
  const vos = new Set(p.vos);
  const groups = p.groups ? new Set(p.groups) : undefined;
  const roles = p.roles ? new Set(p.roles) : undefined;
  const refuse = (reason: string) => ({ plugin: "vo", allowed: false, code: ERR.AUTHZ_VO_REFUSED, reason });
  return (identity) => {
    if (identity.vo === undefined) return refuse("the credential carries no VO attributes; create the proxy with VOMS attributes");
    if (!vos.has(identity.vo)) return refuse(`VO ${identity.vo} is not accepted here (accepted: ${[...vos].join(", ") || "none"})`);
    if (groups && !identity.groups.some((g) => groups.has(g))) return refuse(`none of the groups [${identity.groups.join(", ")}] is accepted (accepted: ${[...groups].join(", ")})`);
    if (roles) {
      const held = roleNames(identity);
      if (!held.some((r) => roles.has(r))) return refuse(`none of the roles [${held.join(", ")}] is accepted (accepted: ${[...roles].join(", ")})`);
    }
    return { plugin: "vo", allowed: true, reason: `VO ${identity.vo} accepted` };
  };
}
