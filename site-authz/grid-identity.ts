// The identity site authorization and mapping decide on. Structurally the security core's
// VerifiedIdentity (verifyChain's result), so the pilot and the matchmaker pass that straight in.

export interface GridIdentity {
  readonly dn: string;
  /** Issuer of the end-entity certificate: what CA allow/ban entries match. */
  readonly caDn: string;
  readonly vo?: string;
  readonly groups: readonly string[];
  /** Plain role names (`pilot`) or VOMS FQANs (`/atlas/Role=pilot`); both are understood. */
  readonly roles: readonly string[];
}

/** What a job asks of the site that authorization can refuse. */
export interface JobRequest {
  readonly walltimeSec?: number;
}

// RFC 3820 / legacy proxies append CN components to the owner's DN. A banned user must stay banned,
// and mapped to the same account, whichever proxy of theirs they present.
const PROXY_CN = /\/CN=(\d+|proxy|limited proxy)$/;

/** The end-entity DN with any proxy CN components removed. */
export function baseDn(dn: string): string {
  let d = dn;
  while (PROXY_CN.test(d)) d = d.replace(PROXY_CN, "");
  return d;
}

/** `pilot` and `/atlas/Role=pilot` (or `/atlas/prod/Role=pilot/Capability=NULL`) both name role `pilot`. */
export function roleName(role: string): string {
  const m = /(?:^|\/)Role=([^/]+)/.exec(role);
  if (m) return m[1];
  return role;
}

export function roleNames(identity: GridIdentity): string[] {
  return identity.roles.map(roleName).filter((r) => r !== "NULL");
}
