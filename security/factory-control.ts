// Factory control (`wms factory set`) signed by an operator, the way task batches and control
// requests are signed by their submitters: the exact JSON text, a detached signature, the
// certificate chain, with issue time, expiry and nonce inside the signed text. Only a certificate
// carrying the `operator` role may retune a factory. The NATS subject permission says who may
// publish; this says who asked, and a captured request cannot be sent again.
import type { RedisClient } from "../platform/redis-client.ts";
import { ERR, FactoryControl, SCHEMA_VERSION, SignedFactoryControl, WmsError, type KnobChanges, type WireNames } from "../schemas/index.ts";
import { AuditLog } from "./audit-log.ts";
import { verifyChain, type VerifiedIdentity } from "./chain-verification.ts";
import { signData, verifyWithKey } from "./detached-signature.ts";
import { NonceStore } from "./nonce-store.ts";
import { checkFreshness, newFreshness } from "./request-freshness.ts";
import type { TrustStore } from "./trust-store.ts";

export const OPERATOR_ROLE = "operator";

export interface FactoryControlRequest {
  readonly factoryId: string;
  readonly queue: string;
  readonly knobs: KnobChanges;
}

export function signFactoryControl(req: FactoryControlRequest, signer: { certChain: readonly string[]; keyPem: string }, o: { now?: number; validityMs?: number } = {}): SignedFactoryControl {
  const control: FactoryControl = FactoryControl.parse({ schemaVersion: SCHEMA_VERSION, factoryId: req.factoryId, queue: req.queue, knobs: req.knobs, ...newFreshness(o.now, o.validityMs) });
  const text = JSON.stringify(control);
  return { schemaVersion: SCHEMA_VERSION, control: text, signature: signData(text, signer.keyPem), certChain: [...signer.certChain] };
}

/**
 * Chain (CA, validity, CRL) and signature at `at`, the operator role, and with `fresh` the
 * request's own time window. The nonce is the caller's to consume. A message without signature
 * and chain (an old client's, or anyone's who can publish on the subject) is SEC_NOT_OPERATOR.
 */
export function verifyFactoryControl(signed: unknown, trust: TrustStore, o: { at?: number; fresh: boolean }): { control: FactoryControl; identity: VerifiedIdentity } {
  const at = o.at ?? Date.now();
  if (signed === null || typeof signed !== "object" || !("signature" in signed) || !("certChain" in signed)) {
    throw new WmsError(ERR.SEC_NOT_OPERATOR, "factory control carries no operator signature; send it with wms factory set --cert OPERATOR_CERT --key OPERATOR_KEY");
  }
  const s = SignedFactoryControl.parse(signed);
  const identity = verifyChain(s.certChain, trust, { at });
  if (!verifyWithKey(s.control, s.signature, identity.publicKey)) throw new WmsError(ERR.SEC_BAD_SIGNATURE, `the factory control does not match the signature of ${identity.subjectDn}`);
  if (!identity.roles.includes(OPERATOR_ROLE)) {
    throw new WmsError(ERR.SEC_NOT_OPERATOR, `${identity.dn} holds no operator role (roles: ${identity.roles.join(", ") || "none"})`);
  }
  const control = FactoryControl.parseJson(s.control);
  if (o.fresh) checkFreshness(control, "factory control", at);
  return { control, identity };
}

export interface AdmittedControl {
  readonly control: FactoryControl;
  /** The signer's DN, for the log and the audit stream. */
  readonly by: string;
}

export interface FactoryControlRefusal {
  readonly code: number;
  readonly count: number;
}

export function refusedFactoryControlKey(names: WireNames): string {
  return names.redisKey("sec", "factory-control-refused");
}

/**
 * The factory's side, over the deployment's trust store and Redis: `admit` a live request (every
 * check, then its nonce, kept as long as it could be accepted), `persisted` for the signed
 * requests kept in Redis, and `refused` to audit and count a refusal by code
 * (`wms_factory_control_refused_total` on the monitor's /metrics).
 */
export class FactoryControlVerifier {
  private readonly nonces: NonceStore;
  private readonly audit: AuditLog;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly trust: TrustStore,
    private readonly clock: () => number = Date.now,
  ) {
    this.nonces = new NonceStore(redis, names, clock);
    this.audit = new AuditLog(redis, names);
  }

  async admit(signed: unknown): Promise<AdmittedControl> {
    const { control, identity } = verifyFactoryControl(signed, this.trust, { at: this.clock(), fresh: true });
    if (!(await this.nonces.isNonceNew(control.nonce, control.expiresAt))) {
      throw new WmsError(ERR.SEC_NONCE_REPLAYED, `factory control ${control.nonce} was already received; sign a new request (wms factory set)`);
    }
    return { control, by: identity.dn };
  }

  /**
   * A request the factory kept after admitting it (or `wms factory set` kept for a factory not
   * running): it stands until changed, so its age is not checked; chain, CRL, signature and role
   * are, now, so a Redis writer cannot add one and a revoked operator's changes stop applying.
   */
  persisted(signed: unknown): AdmittedControl {
    const { control, identity } = verifyFactoryControl(signed, this.trust, { at: this.clock(), fresh: false });
    return { control, by: identity.dn };
  }

  async refused(code: number, reason: string, fields: Readonly<Record<string, string>>): Promise<void> {
    await Promise.all([
      this.redis.hincrby(refusedFactoryControlKey(this.names), String(code), 1),
      this.audit.write("factory-control-refused", { code: String(code), reason: reason.slice(0, 500), ...fields }),
    ]);
  }
}

export async function factoryControlRefusals(redis: RedisClient, names: WireNames): Promise<FactoryControlRefusal[]> {
  const h = await redis.hgetall(refusedFactoryControlKey(names));
  return Object.entries(h).map(([code, n]) => ({ code: Number(code), count: Number(n) }));
}
