// Every authorization, mapping and identity-switch decision becomes an AuditRecord, so an
// operator can trace which grid identity ran as which local account, for which job and pilot. Records go through an injected callback: the reports publisher in
// production (RabbitMQ, never lost), a Redis list or an array in tests and the CLI.
import { randomUUID } from "node:crypto";
import { SCHEMA_VERSION, type AuditRecord } from "../schemas/index.ts";
import type { AuthzDecision } from "./authz-chain.ts";
import type { GridIdentity } from "./grid-identity.ts";

export type AuditSink = (record: AuditRecord) => void | Promise<void>;

export interface AuditContext {
  readonly site: string;
  readonly node?: string;
  readonly pilotId?: string;
  readonly jobId?: string;
}

type AuditFields = Omit<AuditRecord, "schemaVersion" | "kind" | "reportId" | "at">;

export function auditRecord(fields: AuditFields, at = Date.now()): AuditRecord {
  const r: AuditRecord = { schemaVersion: SCHEMA_VERSION, kind: "audit", reportId: randomUUID(), at, ...fields };
  for (const k of Object.keys(r) as Array<keyof AuditRecord>) if (r[k] === undefined) delete r[k];
  if (r.detail !== undefined && r.detail.length > 4096) r.detail = r.detail.slice(0, 4093) + "...";
  return r;
}

/** The attributes an auditor needs to see next to the DN. */
export function describeAttributes(identity: GridIdentity): string {
  return `ca=${identity.caDn} vo=${identity.vo ?? "-"} groups=[${identity.groups.join(",")}] roles=[${identity.roles.join(",")}]`;
}

export function authzAuditRecord(identity: GridIdentity, decision: AuthzDecision, ctx: AuditContext): AuditRecord {
  const verdict = decision.allowed ? "allowed" : `refused E${decision.code ?? 0} by ${decision.plugin ?? "?"}`;
  return auditRecord({
    event: "authz-decision",
    dn: identity.dn,
    site: ctx.site,
    node: ctx.node,
    pilotId: ctx.pilotId,
    jobId: ctx.jobId,
    detail: `${verdict}: ${decision.reason}; ${describeAttributes(identity)}`,
  });
}
