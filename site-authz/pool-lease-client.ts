// The pilot's side of the site-central pool lease: it asks the pool-lease service over NATS
// (pool-lease-service.ts) instead of holding Redis credentials, as a worker node asks SCAS for its
// mapping instead of keeping the site's pool itself. Each request names the attempt the pilot holds
// and is signed with the pilot's report key, which the matchmaker bound to that attempt; the
// service checks both against the job's record before it touches the pool.
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import { ERR, PoolLeaseReply, SCHEMA_VERSION, WmsError, type PoolLeaseRequest, type WireNames } from "../schemas/index.ts";
import { canonicalJson } from "../security/canonical-json.ts";
import type { AttemptProof, LeaseResult, PoolLeaseAsk, PoolLeases, PoolReleaseAsk, ReleaseResult } from "./pool-lease.ts";

/** The context the signature is made under (security's `signAttemptRequest` purpose). */
export const POOL_LEASE_SIGN_PURPOSE = "pool-lease";

/**
 * The text a request's signature covers, on both sides: the request without `signature` in its
 * canonical form (RFC 8785), so it verifies whatever order its fields travel in, and a field changed
 * after signing does not.
 */
export function poolLeaseSignedText(body: Omit<PoolLeaseRequest, "signature">): string {
  return canonicalJson(body);
}

export interface PoolLeaseClientOptions {
  readonly site: string;
  /** Signs the request text with the attempt's report key (the pilot's AttemptReportSigner). */
  readonly sign: (text: string) => string;
  readonly timeoutMs?: number;
}

const enc = new TextEncoder();

type Unsigned = Omit<PoolLeaseRequest, "signature">;

export class PoolLeaseClient implements PoolLeases {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: WireNames,
    private readonly o: PoolLeaseClientOptions,
  ) {}

  async lease(a: PoolLeaseAsk): Promise<LeaseResult> {
    // Only the store can peek (the operator's `wms site authz check` reads it itself).
    if (a.peek) throw new WmsError(ERR.BAD_INPUT, "the pool-lease service takes leases; a peek reads the pool with the operator's identity (wms site authz check)");
    const reply = await this.request({ ...this.bound("lease", a.jobId, a.attempt), dn: a.dn, node: a.node, plugin: a.plugin });
    if (reply.status !== "ok" || reply.op !== "lease") throw new WmsError(ERR.BAD_INPUT, "the pool-lease service answered a lease with something else");
    return { account: reply.account, status: reply.lease, expiresAt: reply.expiresAt, ...(reply.previousDn !== undefined ? { previousDn: reply.previousDn } : {}) };
  }

  async release(a: PoolReleaseAsk): Promise<ReleaseResult> {
    const reply = await this.request({ ...this.bound("release", a.jobId, a.attempt), dn: a.dn, node: a.node, plugin: a.plugin, account: a.account, clean: a.clean });
    if (reply.status !== "ok" || reply.op !== "release") throw new WmsError(ERR.BAD_INPUT, "the pool-lease service answered a release with something else");
    return { status: reply.release, holdersLeft: reply.holdersLeft, expiresAt: reply.expiresAt };
  }

  private bound(op: "lease" | "release", jobId: string | undefined, attempt: AttemptProof | undefined): Pick<Unsigned, "schemaVersion" | "op" | "site" | "jobId" | "attempt" | "leaseToken" | "pilotId" | "issuedAt" | "nonce"> {
    // A pilot leases only for a job it holds: the service would refuse anything else.
    if (jobId === undefined || attempt === undefined) throw new WmsError(ERR.POOL_LEASE_REFUSED, `a pool account is ${op}d only for a job attempt this pilot holds (job, attempt and lease token)`);
    return {
      schemaVersion: SCHEMA_VERSION,
      op,
      site: this.o.site,
      jobId,
      attempt: attempt.attempt,
      leaseToken: attempt.leaseToken,
      pilotId: attempt.pilotId,
      issuedAt: Date.now(),
      nonce: randomBytes(18).toString("base64url"),
    };
  }

  private async request(body: Unsigned): Promise<PoolLeaseReply> {
    const signed: PoolLeaseRequest = { ...body, signature: this.o.sign(poolLeaseSignedText(body)) };
    let data: Uint8Array;
    try {
      data = (await this.nc.request(this.names.subjects.poolLease, enc.encode(JSON.stringify(signed)), { timeout: this.o.timeoutMs ?? 10_000 })).data;
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      if (/no responders|503/i.test(m)) throw new WmsError(ERR.SERVICE_UNAVAILABLE, "no pool-lease service is running; start the deployment with 'wms up' (or the service alone with 'wms site pool serve')");
      if (/timeout/i.test(m)) throw new WmsError(ERR.TIMEOUT, "the pool-lease service did not answer");
      throw new WmsError(ERR.SERVICE_UNAVAILABLE, `pool-lease service: ${m}`);
    }
    const reply = PoolLeaseReply.parseJson(data);
    if (reply.status === "error") throw WmsError.fromReply(reply);
    return reply;
  }
}
