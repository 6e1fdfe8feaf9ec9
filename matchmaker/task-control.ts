// Cancel and retry requests, signed by the requester exactly as task batches are (the JSON text,
// a detached signature and the certificate chain), so the intake can tell who asks before it
// decides whether they may (intake-authz.ts). A request carries its time and a nonce: the intake
// refuses stale ones and each nonce twice, so a captured request cannot be replayed later.
import { ERR, SCHEMA_VERSION, SignedTaskControl, TaskControl, WmsError } from "../schemas/index.ts";
import { checkFreshness, newFreshness, signData, verifyChain, verifyWithKey, type TrustStore, type VerifiedIdentity } from "../security/index.ts";

export function newTaskControl(action: TaskControl["action"], taskId: string, now = Date.now()): TaskControl {
  const f = newFreshness(now);
  return { schemaVersion: SCHEMA_VERSION, action, taskId, requestedAt: f.issuedAt, expiresAt: f.expiresAt, nonce: f.nonce };
}

export function signTaskControl(control: TaskControl, signer: { certChain: readonly string[]; keyPem: string }): SignedTaskControl {
  const text = JSON.stringify(TaskControl.parse(control));
  return { schemaVersion: SCHEMA_VERSION, control: text, signature: signData(text, signer.keyPem), certChain: [...signer.certChain] };
}

/** Validates, checks chain and signature and the request's age. The nonce is the caller's to consume. */
export function verifyTaskControl(signed: unknown, trust: TrustStore, now = Date.now()): { control: TaskControl; identity: VerifiedIdentity } {
  const s = SignedTaskControl.parse(signed);
  const identity = verifyChain(s.certChain, trust, { at: now });
  if (!verifyWithKey(s.control, s.signature, identity.publicKey)) throw new WmsError(ERR.SEC_BAD_SIGNATURE, `the task control request does not match the signature of ${identity.subjectDn}`);
  const control = TaskControl.parseJson(s.control);
  checkFreshness({ issuedAt: control.requestedAt, expiresAt: control.expiresAt, nonce: control.nonce }, "task control request", now);
  return { control, identity };
}
