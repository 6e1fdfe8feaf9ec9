import type { Site } from "../schemas/index.ts";
import { authzAuditRecord, type AuditContext, type AuditSink } from "./audit-record.ts";
import { authorize, type AuthzDecision } from "./authz-chain.ts";
import type { GridIdentity, JobRequest } from "./grid-identity.ts";

/**
 * `authorize` plus its audit record: what the pilot calls before a switch. The matchmaker's
 * per-advert checks call `authorize` alone (auditing every advert would drown the audit trail).
 */
export async function authorizeAudited(site: Pick<Site, "name" | "authz">, identity: GridIdentity, job: JobRequest | undefined, audit: AuditSink, ctx: Omit<AuditContext, "site">): Promise<AuthzDecision> {
  const decision = authorize(site, identity, job);
  await audit(authzAuditRecord(identity, decision, { ...ctx, site: site.name }));
  return decision;
}
