// What `wms site authz check` shows: the authorization chain's verdict plug-in by plug-in and the
// account the DN maps to. Without `lease` nothing changes anywhere: a pool lease is only peeked.
import { isWmsError, type Site } from "../schemas/index.ts";
import type { AccountMapper, Mapping } from "./account-mapper.ts";
import type { AuditSink } from "./audit-record.ts";
import { authorize, type AuthzDecision } from "./authz-chain.ts";
import { authorizeAudited } from "./audited-authorize.ts";
import type { GridIdentity, JobRequest } from "./grid-identity.ts";

export interface AccessExplanation {
  readonly site: string;
  readonly identitySwitch: Site["identitySwitch"];
  readonly identity: GridIdentity;
  readonly authz: AuthzDecision;
  readonly mapping?: Mapping;
  readonly mappingError?: { readonly code: number; readonly name: string; readonly message: string };
  /** True when the check may run here: authorized, and mapped where the site requires a switch. */
  readonly ok: boolean;
}

export async function explainAccess(o: {
  readonly site: Site;
  readonly identity: GridIdentity;
  readonly job?: JobRequest;
  readonly mapper: AccountMapper;
  /** Take the lease (and audit both decisions) instead of only saying what would happen. */
  readonly lease?: { readonly audit: AuditSink; readonly node: string };
}): Promise<AccessExplanation> {
  const authz = o.lease ? await authorizeAudited(o.site, o.identity, o.job, o.lease.audit, { node: o.lease.node }) : authorize(o.site, o.identity, o.job);
  let mapping: Mapping | undefined;
  let mappingError: AccessExplanation["mappingError"];
  if (o.site.mapping.length > 0) {
    try {
      mapping = await o.mapper.map(o.identity, { lease: o.lease !== undefined && authz.allowed });
    } catch (e) {
      if (!isWmsError(e)) throw e;
      mappingError = { code: e.code, name: e.name, message: e.message };
    }
  }
  const mappedEnough = o.site.identitySwitch !== "required" || mapping !== undefined;
  return { site: o.site.name, identitySwitch: o.site.identitySwitch, identity: o.identity, authz, mapping, mappingError, ok: authz.allowed && mappedEnough };
}
