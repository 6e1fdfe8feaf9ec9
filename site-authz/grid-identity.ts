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

// No DN is "normalised" by how its CNs look. The end-entity DN of a verified identity (`dn`) is
// found by the chain's structure: every RFC 3820 proxy carries proxyCertInfo and is its issuer's
// subject plus one CN, and chain verification walks up to the first certificate that is not a
// proxy. An end-entity certificate named `/DC=org/CN=Alice/CN=4242` is therefore someone other than
// Alice, and authorization, mapping and grid-mapfile lookups use `dn` exactly as verified.

/** `pilot` and `/atlas/Role=pilot` (or `/atlas/prod/Role=pilot/Capability=NULL`) both name role `pilot`. */
export function roleName(role: string): string {
  const m = /(?:^|\/)Role=([^/]+)/.exec(role);
  if (m) return m[1];
  return role;
}

export function roleNames(identity: GridIdentity): string[] {
  return identity.roles.map(roleName).filter((r) => r !== "NULL");
}
