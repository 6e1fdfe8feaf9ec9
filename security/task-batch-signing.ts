// Task batches from production managers and analysis users, signed with their certificate (or a
// proxy of it). The signer stamps issue time, expiry and a nonce into the signed text; the intake
// verifies here, refuses a stale batch, and consumes the nonce (so a replay is refused) and
// decides roles itself from `identity.roles`.
import { ERR, SCHEMA_VERSION, SignedTaskBatch, TaskBatch, WmsError, type SignedTaskBatch as SignedTaskBatchT, type TaskBatch as TaskBatchT } from "../schemas/index.ts";
import { verifyChain, type VerifiedIdentity } from "./chain-verification.ts";
import { signData, verifyWithKey } from "./detached-signature.ts";
import { checkFreshness, newFreshness, type Freshness } from "./request-freshness.ts";
import type { TrustStore } from "./trust-store.ts";

export function signTaskBatch(batch: TaskBatchT, signer: { certChain: readonly string[]; keyPem: string }, o: { now?: number; validityMs?: number } = {}): SignedTaskBatchT {
  const text = JSON.stringify({ ...batch, ...newFreshness(o.now, o.validityMs) });
  return { schemaVersion: SCHEMA_VERSION, batch: text, signature: signData(text, signer.keyPem), certChain: [...signer.certChain] };
}

export function verifyTaskBatch(signed: unknown, trust: TrustStore, opts: { at?: number } = {}): { batch: TaskBatchT; identity: VerifiedIdentity; freshness: Freshness } {
  const s = SignedTaskBatch.parse(signed);
  const identity = verifyChain(s.certChain, trust, opts);
  if (!verifyWithKey(s.batch, s.signature, identity.publicKey)) throw new WmsError(ERR.SEC_BAD_SIGNATURE, `the task batch does not match the signature of ${identity.subjectDn}`);
  const batch = TaskBatch.parseJson(s.batch);
  return { batch, identity, freshness: checkFreshness(batch, "task batch", opts.at) };
}
