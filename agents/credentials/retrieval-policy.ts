// MyProxy's "trusted retrieval policy", pure: who may take a stored proxy out of the cache.
import type { VerifiedIdentity } from "../../security/index.ts";

export const PILOT_ROLE_RULE = "role:pilot";

/** A rule is an end-entity DN (proxies of it qualify too) or `role:pilot` (any pilot certificate of our CA). */
export function satisfiesRetrievalPolicy(identity: Pick<VerifiedIdentity, "dn" | "roles">, rules: readonly string[]): boolean {
  return rules.some((rule) => (rule === PILOT_ROLE_RULE ? identity.roles.includes("pilot") : rule === identity.dn));
}
