// The match envelope: the pilot authenticates the server by the payload. The
// matchmaker signs the body's exact JSON text; the pilot runs nothing unless the signature, the
// signer's chain to the CA and its `matchmaker` role, the pilot id, the expiry and the nonce all hold.
import { ERR, EnvelopeBody, instantText, MatchEnvelope, SCHEMA_VERSION, WmsError, type EnvelopeBody as EnvelopeBodyT, type MatchEnvelope as MatchEnvelopeT } from "../schemas/index.ts";
import { sign, verify, type KeyObject } from "node:crypto";
import { verifyChain } from "./chain-verification.ts";
import { batchOfLeaves, batchSignedData, leafHashOfPrefixed, rootFromPosition, type BatchPosition } from "./envelope-batch.ts";
import { jsonBytes } from "../platform/json-bytes.ts";
import { createDataSigner, verifyWithKey } from "./detached-signature.ts";
import { certificateSubjectDn, createEnvelopeDelegate, DELEGATION_LIFETIME_SEC, signWithDelegate, verifyDelegation, type EnvelopeDelegate } from "./envelope-delegation.ts";
import { carriedSigner, signerRef, type SignerCache, type SignerPair } from "./signer-cache.ts";
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

/**
 * The current delegated key, made at first use and replaced at half its life, so an envelope never
 * carries a delegation about to lapse in transit.
 */
function delegateSource(service: { certPem: string; keyPem: string }, o: EnvelopeSignerOptions): () => EnvelopeDelegate {
  const lifetimeSec = o.delegationLifetimeSec ?? DELEGATION_LIFETIME_SEC;
  const clock = o.now ?? Date.now;
  const serviceDn = certificateSubjectDn(service.certPem);
  let delegate: EnvelopeDelegate | undefined;
  let rotateAt = 0;
  return () => {
    const now = clock();
    if (delegate === undefined || now >= rotateAt) {
      delegate = createEnvelopeDelegate({ ...service, serviceDn }, { lifetimeSec, now });
      rotateAt = now + (delegate.notAfter - now) / 2;
    }
    return delegate;
  };
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
  const current = delegateSource(service, o);
  return {
    sign(body) {
      const delegate = current();
      const text = JSON.stringify(body);
      return { schemaVersion: SCHEMA_VERSION, body: text, signature: signWithDelegate(delegate, text), signerCert: service.certPem, delegation: delegate.delegation };
    },
  };
}

/**
 * A signed envelope whose body is kept as the UTF-8 bytes that were signed. `jsonBytes` writes a
 * Uint8Array as the JSON string of its text, so the matchmaker's reply carrying it is byte for byte
 * the reply carrying the MatchEnvelope with that text as its body; the body is never made a string.
 */
export type EnvelopeWithBodyBytes = Omit<MatchEnvelopeT, "body"> & { readonly body: Buffer };

export interface BatchEnvelopeSigner {
  sign(body: EnvelopeBodyT): Promise<MatchEnvelopeT>;
  /**
   * The matchmaker's path: the body written straight to bytes and hashed there. When `knownSigner`
   * is the id (`signerRef`) of the certificate and delegation the envelope is signed under, the
   * envelope names them instead of carrying them (signer-cache.ts).
   */
  signToBytes(body: EnvelopeBodyT, knownSigner?: string): Promise<EnvelopeWithBodyBytes>;
}

interface PendingEnvelope {
  /** The body's JSON behind the leaf's prefix byte (`jsonBytes(body, 1)`). */
  readonly prefixed: Buffer;
  /** Its leaf hash, base64, taken when it was written. */
  readonly leaf: string;
  readonly knownSigner: string | undefined;
  readonly resolve: (e: EnvelopeWithBodyBytes) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The matchmaker's signer: envelopes asked for in one event-loop turn are signed together, one
 * ECDSA signature over the Merkle root of their bodies (envelope-batch.ts), each envelope carrying
 * its path. A lone envelope is signed directly, exactly as `createEnvelopeSigner` does, so a quiet
 * matchmaker pays nothing but the wait for the end of the turn.
 *
 * The body is written with `jsonBytes` (the bytes JSON.stringify's text has) into a buffer outside
 * the garbage-collected heap, hashed as a leaf there and kept as bytes into the reply: JSON.stringify
 * returned its text in parts that hashing then copied flat, and the reply held it as a string,
 * about 3 KB of heap a match (bench/README.md, fourth pass).
 */
export function createBatchEnvelopeSigner(service: { certPem: string; keyPem: string }, o: Omit<EnvelopeSignerOptions, "delegated"> = {}): BatchEnvelopeSigner {
  const current = delegateSource(service, o);
  const signerCert = service.certPem;
  // The id of the pair each delegate is signed under, worked out once per delegate.
  let named: { delegate: EnvelopeDelegate; ref: string } | undefined;
  const refOf = (delegate: EnvelopeDelegate): string => {
    if (named?.delegate !== delegate) named = { delegate, ref: signerRef({ signerCert, delegation: delegate.delegation }) };
    return named.ref;
  };
  let pending: PendingEnvelope[] = [];
  const flush = (): void => {
    const batch = pending;
    pending = [];
    try {
      const delegate = current();
      const delegation = delegate.delegation;
      const ref = refOf(delegate);
      // Every field written out: an envelope spread from a shared object literal cost about 0.9 KB
      // of heap more per envelope (V8 copies the spread object slowly, and JSON then reads it slowly).
      if (batch.length === 1) {
        const b = batch[0];
        const body = b.prefixed.subarray(1);
        const signature = sign("sha256", body, delegate.privateKey).toString("base64");
        b.resolve(b.knownSigner === ref ? { schemaVersion: SCHEMA_VERSION, body, signature, signerRef: ref } : { schemaVersion: SCHEMA_VERSION, signerCert, delegation, body, signature });
        return;
      }
      const { root, positions } = batchOfLeaves(batch.map((b) => b.leaf));
      const signature = sign("sha256", batchSignedData(root, batch.length), delegate.privateKey).toString("base64");
      for (let i = 0; i < batch.length; i++) {
        const b = batch[i];
        const body = b.prefixed.subarray(1);
        b.resolve(
          b.knownSigner === ref
            ? { schemaVersion: SCHEMA_VERSION, body, signature, signerRef: ref, batch: positions[i] }
            : { schemaVersion: SCHEMA_VERSION, signerCert, delegation, body, signature, batch: positions[i] },
        );
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  };
  const signToBytes = (body: EnvelopeBodyT, knownSigner?: string): Promise<EnvelopeWithBodyBytes> => {
    const prefixed = jsonBytes(body, 1);
    const leaf = leafHashOfPrefixed(prefixed);
    return new Promise((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ prefixed, leaf, knownSigner, resolve, reject });
    });
  };
  return {
    signToBytes,
    // Envelopes to verify or keep as the schema types them (tests, tools); not the matchmaker's path.
    async sign(body) {
      const env = await signToBytes(body);
      return { ...env, body: env.body.toString("utf8") };
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
  /**
   * The pilot's verified signer pairs: an envelope naming one (`signerRef`) is checked against it,
   * and the pair of a full envelope is remembered once the pair and the signature verify (even if
   * the envelope is then refused as another pilot's or expired: the pair itself is genuine). Without it, an
   * envelope must carry its signer certificate.
   */
  readonly signers?: SignerCache;
}

/** The signer certificate and delegation the envelope carries, or the verified pair it names. */
function signerOf(env: MatchEnvelopeT, signers: SignerCache | undefined): SignerPair {
  const carried = carriedSigner(env);
  if (carried) {
    if (env.signerRef !== undefined) throw new WmsError(ERR.BAD_INPUT, "an envelope carries either signerCert or signerRef, not both");
    return carried;
  }
  if (env.signerRef === undefined) throw new WmsError(ERR.BAD_INPUT, "the envelope carries neither signerCert nor signerRef");
  if (env.delegation !== undefined) throw new WmsError(ERR.BAD_INPUT, "an envelope naming its signer by signerRef carries no delegation");
  const known = signers?.get(env.signerRef);
  if (!known) throw new WmsError(ERR.SEC_BAD_SIGNATURE, `the envelope names signer ${env.signerRef.slice(0, 12)}…, which this pilot has not verified; advertise without knownSigner`);
  return known;
}

function checkEnvelope(envelope: unknown, o: VerifyEnvelopeOptions<boolean | Promise<boolean>>): EnvelopeBodyT {
  const env = MatchEnvelope.parse(envelope);
  const now = o.now ?? Date.now();
  const pair = signerOf(env, o.signers);
  // A remembered pair goes through every check again: its certificate or delegation may have expired.
  const signer = verifyChain([pair.signerCert], o.trust, { at: now });
  // A role is a VO attribute any certificate kind can carry: only a service certificate (and no
  // proxy of one) with the matchmaker role may sign what pilots run.
  if (signer.kind !== "service" || signer.isProxy || !signer.roles.includes(MATCHMAKER_ROLE)) {
    throw new WmsError(ERR.SEC_NOT_AUTHORIZED, `envelope signed by ${signer.dn} (${signer.kind}${signer.isProxy ? " proxy" : ""} certificate); only a service certificate with the ${MATCHMAKER_ROLE} role may sign envelopes`);
  }
  const key = pair.delegation === undefined ? signer.publicKey : verifyDelegation(pair.delegation, pair.signerCert, signer, now);
  if (env.batch === undefined ? !verifyWithKey(env.body, env.signature, key) : !verifyBatched(env.body, env.batch, env.signature, key)) {
    throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the envelope body does not match its signature");
  }
  if (env.signerCert !== undefined) o.signers?.remember(pair);
  const body = EnvelopeBody.parseJson(env.body);
  if (body.pilotId !== o.pilotId) throw new WmsError(ERR.SEC_WRONG_PILOT, `envelope for pilot ${body.pilotId}, this is ${o.pilotId}`);
  if (now >= body.expiresAt) throw new WmsError(ERR.SEC_ENVELOPE_EXPIRED, `expired at ${instantText(body.expiresAt)}`);
  if (body.issuedAt > now + MAX_SKEW_MS) throw new WmsError(ERR.SEC_ENVELOPE_EXPIRED, `issued in the future (${instantText(body.issuedAt)}); check the clocks`);
  return body;
}

/**
 * For a pilot whose first envelope was refused as expired, issued in the future or signed by a
 * certificate not valid yet (SEC_ENVELOPE_EXPIRED, SEC_CERT_EXPIRED): the envelope's issue time when
 * it passes every check at that time (chain, signer's role, signature, pilot id), i.e. when only this
 * node's clock refused it; undefined otherwise. Nothing in the envelope is trusted by this: it says
 * only that the node's clock is off, and by how much (the caller runs nothing from it). No signer
 * pair is remembered and no nonce recorded.
 */
export function refusedOnlyByClock(envelope: unknown, o: Pick<VerifyEnvelopeOptions<boolean>, "trust" | "pilotId">): number | undefined {
  let issuedAt: number;
  try {
    issuedAt = EnvelopeBody.parseJson(MatchEnvelope.parse(envelope).body).issuedAt;
    checkEnvelope(envelope, { trust: o.trust, pilotId: o.pilotId, now: issuedAt, isNonceNew: () => true });
  } catch {
    return undefined;
  }
  return issuedAt;
}

function verifyBatched(body: string, position: BatchPosition, signature: string, key: KeyObject): boolean {
  const root = rootFromPosition(body, position);
  return root !== undefined && verify("sha256", batchSignedData(root, position.size), key, Buffer.from(signature, "base64"));
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
