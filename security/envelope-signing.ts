// The match envelope (seed rule 2: the pilot authenticates the server by the payload). The
// matchmaker signs the body's exact JSON text; the pilot runs nothing unless the signature, the
// signer's chain to the CA and its `matchmaker` role, the pilot id, the expiry and the nonce all hold.
import { ERR, EnvelopeBody, MatchEnvelope, SCHEMA_VERSION, WmsError, type EnvelopeBody as EnvelopeBodyT, type MatchEnvelope as MatchEnvelopeT } from "../schemas/index.ts";
import { verifyChain } from "./chain-verification.ts";
import { createDataSigner, verifyWithKey } from "./detached-signature.ts";
import { certificateSubjectDn, createEnvelopeDelegate, DELEGATION_LIFETIME_SEC, signWithDelegate, verifyDelegation, type EnvelopeDelegate } from "./envelope-delegation.ts";
import type { TrustStore } from "./trust-store.ts";

export const MATCHMAKER_ROLE = "matchmaker";
/** Clock skew tolerated between matchmaker and pilot for `issuedAt`. */
const MAX_SKEW_MS = 5 * 60_000;

export interface EnvelopeSigner {
  sign(body: EnvelopeBodyT): MatchEnvelopeT;
}

export interface EnvelopeSignerOptions {
  /**
   * Sign with a short-lived EC key delegated by the service key (default true); false signs every
   * envelope with the RSA service key, as before delegation existed.
   */
  readonly delegated?: boolean;
  /** Lifetime of one delegated key (default 6 h); a new one is made at half of it. */
  readonly delegationLifetimeSec?: number;
  /** Epoch ms clock, for tests of rotation. */
  readonly now?: () => number;
}

export function createEnvelopeSigner(service: { certPem: string; keyPem: string }, o: EnvelopeSignerOptions = {}): EnvelopeSigner {
  if (o.delegated === false) {
    const signer = createDataSigner(service.keyPem);
    return {
      sign(body) {
        const text = JSON.stringify(body);
        return { schemaVersion: SCHEMA_VERSION, body: text, signature: signer.sign(text), signerCert: service.certPem };
      },
    };
  }
  const lifetimeSec = o.delegationLifetimeSec ?? DELEGATION_LIFETIME_SEC;
  const clock = o.now ?? Date.now;
  const serviceDn = certificateSubjectDn(service.certPem);
  let delegate: EnvelopeDelegate | undefined;
  let rotateAt = 0;
  return {
    sign(body) {
      const now = clock();
      // Rotated at half-life, so an envelope never carries a delegation about to lapse in transit.
      if (delegate === undefined || now >= rotateAt) {
        delegate = createEnvelopeDelegate({ ...service, serviceDn }, { lifetimeSec, now });
        rotateAt = now + (delegate.notAfter - now) / 2;
      }
      const text = JSON.stringify(body);
      return { schemaVersion: SCHEMA_VERSION, body: text, signature: signWithDelegate(delegate, text), signerCert: service.certPem, delegation: delegate.delegation };
    },
  };
}

export interface VerifyEnvelopeOptions<R extends boolean | Promise<boolean>> {
  readonly trust: TrustStore;
  readonly pilotId: string;
  /** Epoch ms; default Date.now(). */
  readonly now?: number;
  /** Records the nonce and says whether it was new; asked last, so refused envelopes burn none. */
  readonly isNonceNew: (nonce: string, expiresAt: number) => R;
}

function checkEnvelope(envelope: unknown, o: VerifyEnvelopeOptions<boolean | Promise<boolean>>): EnvelopeBodyT {
  const env = MatchEnvelope.parse(envelope);
  const now = o.now ?? Date.now();
  const signer = verifyChain([env.signerCert], o.trust, { at: now });
  if (!signer.roles.includes(MATCHMAKER_ROLE)) throw new WmsError(ERR.SEC_NOT_AUTHORIZED, `envelope signed by ${signer.dn}, which lacks the ${MATCHMAKER_ROLE} role`);
  const key = env.delegation === undefined ? signer.publicKey : verifyDelegation(env.delegation, env.signerCert, signer, now);
  if (!verifyWithKey(env.body, env.signature, key)) throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the envelope body does not match its signature");
  const body = EnvelopeBody.parseJson(env.body);
  if (body.pilotId !== o.pilotId) throw new WmsError(ERR.SEC_WRONG_PILOT, `envelope for pilot ${body.pilotId}, this is ${o.pilotId}`);
  if (now >= body.expiresAt) throw new WmsError(ERR.SEC_ENVELOPE_EXPIRED, `expired at ${new Date(body.expiresAt).toISOString()}`);
  if (body.issuedAt > now + MAX_SKEW_MS) throw new WmsError(ERR.SEC_ENVELOPE_EXPIRED, `issued in the future (${new Date(body.issuedAt).toISOString()}); check the clocks`);
  return body;
}

function replayed(body: EnvelopeBodyT): WmsError {
  return new WmsError(ERR.SEC_NONCE_REPLAYED, `nonce ${body.nonce.slice(0, 8)}… of job ${body.job.jobId} was seen before`);
}

/**
 * Returns the verified body, or throws WmsError (SEC_BAD_SIGNATURE, SEC_UNTRUSTED_CA,
 * SEC_CERT_EXPIRED, SEC_NOT_AUTHORIZED, SEC_WRONG_PILOT, SEC_ENVELOPE_EXPIRED, SEC_NONCE_REPLAYED,
 * BAD_INPUT). Synchronous when `isNonceNew` is (the pilot's in-memory set), a Promise when it is
 * (NonceStore in Redis).
 */
export function verifyEnvelope(envelope: unknown, o: VerifyEnvelopeOptions<boolean>): EnvelopeBodyT;
export function verifyEnvelope(envelope: unknown, o: VerifyEnvelopeOptions<Promise<boolean>>): Promise<EnvelopeBodyT>;
export function verifyEnvelope(envelope: unknown, o: VerifyEnvelopeOptions<boolean | Promise<boolean>>): EnvelopeBodyT | Promise<EnvelopeBodyT> {
  const body = checkEnvelope(envelope, o);
  const fresh = o.isNonceNew(body.nonce, body.expiresAt);
  if (typeof fresh === "boolean") {
    if (!fresh) throw replayed(body);
    return body;
  }
  return fresh.then((isNew) => {
    if (!isNew) throw replayed(body);
    return body;
  });
}
