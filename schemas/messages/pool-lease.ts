import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Dn, ErrorReplySchema, Id, Nonce, SiteName, Timestamp } from "./common.ts";

// The site-central pool-account lease service (SCAS's role, site-authz/pool-lease-service.ts):
// pilots ask it over NATS instead of holding Redis credentials. Every request names the attempt
// the pilot holds and is signed with the pilot's report key, the one the matchmaker bound to that
// attempt on the job's record, so only the pilot that holds a job of a DN can lease or release an
// account for that DN.

/** A pool account as the site file names it (site-config.ts), or '' when the pool is exhausted. */
const PoolAccount = Type.String({ maxLength: 64, pattern: "^([a-z_][a-z0-9_-]*)?$" });
/** The worker node: the first half of a lease holder `<node>/<jobId>`, so no '/'. */
const NodeName = Type.String({ minLength: 1, maxLength: 255, pattern: "^[A-Za-z0-9_.-]+$" });

/**
 * Pilot → pool-lease service. `lease` takes (or renews, when the DN holds one already) the DN's
 * account and registers `<node>/<jobId>` as a holder; `release` reports the node's cleanliness
 * check of `account` after the job. Which accounts and for how long come from the service's own
 * site file (`plugin`: the position of the pool plug-in in the site's `mapping`), never from the
 * request. `signature`: Ed25519 by the attempt's report key over the request without it.
 */
export const PoolLeaseRequestSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    op: Type.Union([Type.Literal("lease"), Type.Literal("release")]),
    site: SiteName,
    plugin: Type.Integer({ minimum: 0, maximum: 63 }),
    jobId: Id,
    attempt: Type.Integer({ minimum: 1 }),
    leaseToken: Type.String({ minLength: 8, maxLength: 128 }),
    pilotId: Id,
    dn: Dn,
    node: NodeName,
    /** release only: the account the lease gave. */
    account: Type.Optional(PoolAccount),
    /** release only: nothing of the account runs or lies on the node. */
    clean: Type.Optional(Type.Boolean()),
    issuedAt: Timestamp,
    nonce: Nonce,
    signature: Type.String({ minLength: 86, maxLength: 88, pattern: "^[A-Za-z0-9+/]+={0,2}$" }),
  },
  { additionalProperties: false, $id: "PoolLeaseRequest" },
);
export type PoolLeaseRequest = Static<typeof PoolLeaseRequestSchema>;
export const PoolLeaseRequest = defineMessage("PoolLeaseRequest", PoolLeaseRequestSchema);

/** Pool-lease service → pilot: the lease's outcome (PoolLease's), or a coded refusal that changed nothing. */
export const PoolLeaseReplySchema = Type.Union(
  [
    Type.Object(
      {
        schemaVersion: SchemaVersion,
        status: Type.Literal("ok"),
        op: Type.Literal("lease"),
        account: PoolAccount,
        lease: Type.Union([Type.Literal("held"), Type.Literal("renewed"), Type.Literal("new"), Type.Literal("reused"), Type.Literal("exhausted")]),
        expiresAt: Timestamp,
        previousDn: Type.Optional(Dn),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        schemaVersion: SchemaVersion,
        status: Type.Literal("ok"),
        op: Type.Literal("release"),
        release: Type.Union([Type.Literal("released"), Type.Literal("dirty"), Type.Literal("unknown"), Type.Literal("other-dn")]),
        holdersLeft: Type.Integer({ minimum: 0 }),
        expiresAt: Timestamp,
      },
      { additionalProperties: false },
    ),
    ErrorReplySchema,
  ],
  { $id: "PoolLeaseReply" },
);
export type PoolLeaseReply = Static<typeof PoolLeaseReplySchema>;
export const PoolLeaseReply = defineMessage("PoolLeaseReply", PoolLeaseReplySchema);
