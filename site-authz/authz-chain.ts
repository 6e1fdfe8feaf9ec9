// LCAS's role (the gLite Local Centre Authorization Service): independent plug-ins whose final decision is the logical AND of all.
// Pure: the matchmaker calls it per advert, the pilot again before any identity switch.
import type { AuthzPlugin, ErrorCode, Site } from "../schemas/index.ts";
import { compileAllowList } from "./authz-allow-list.ts";
import { compileBanList } from "./authz-ban-list.ts";
import type { AuthzStep, CompiledPlugin } from "./authz-step.ts";
import { compileVo } from "./authz-vo.ts";
import { compileWalltime } from "./authz-walltime.ts";
import type { GridIdentity, JobRequest } from "./grid-identity.ts";

export interface AuthzDecision {
  readonly allowed: boolean;
  /** The first refusing plug-in's registry code. */
  readonly code?: ErrorCode;
  readonly plugin?: string;
  readonly reason: string;
  /** Every plug-in's verdict in chain order, so an admin sees the whole AND, not just the first no. */
  readonly trail: readonly AuthzStep[];
}

function compilePlugin(p: AuthzPlugin): CompiledPlugin {
  switch (p.type) {
    case "ban-list":
      return compileBanList(p);
    case "allow-list":
      return compileAllowList(p);
    case "vo":
      return compileVo(p);
    case "walltime":
      return compileWalltime(p);
  }
}

// Keyed by the chain array itself: a site config parsed once compiles once, and a reloaded config
// (a new array) can never be served a stale chain.
const compiled = new WeakMap<readonly AuthzPlugin[], readonly CompiledPlugin[]>();

function chainOf(authz: readonly AuthzPlugin[]): readonly CompiledPlugin[] {
  let c = compiled.get(authz);
  if (!c) {
    c = authz.map(compilePlugin);
    compiled.set(authz, c);
  }
  return c;
}

/** An empty chain admits everyone: a site with no policy has chosen to be open. */
export function authorize(site: Pick<Site, "name" | "authz">, identity: GridIdentity, job?: JobRequest): AuthzDecision {
  const dn = identity.dn;
  const trail = chainOf(site.authz).map((plugin) => plugin(identity, dn, job));
  const refusal = trail.find((s) => !s.allowed);
  if (refusal) return { allowed: false, code: refusal.code, plugin: refusal.plugin, reason: refusal.reason, trail };
  const reason = trail.length === 0 ? `site ${site.name} has no authorization plug-ins; everyone is admitted` : `all ${trail.length} plug-ins of site ${site.name} allow`;
  return { allowed: true, reason, trail };
}
