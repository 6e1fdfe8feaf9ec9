// Reports signed by the pilot that holds the job. Each pilot process makes an Ed25519 key pair at
// start and advertises the public half; the matchmaker binds it to every attempt it hands that
// pilot (in the signed envelope and on the job's record), and the agents apply an attempt's state,
// accounting, audit and log reports only when signed by that key. The private key never leaves the
// pilot's memory, so holding a job's id and lease token (both visible on the wires) is not enough
// to report for it.
//
// node:crypto's Ed25519, not node-forge: this runs once per report on the agents' hot path
// (`npm run bench -- --only reports` measures it against the JSON round trip) and once per report on the pilot.
// The signed bytes are the report's JSON without `signature`, prefixed with a context string so a
// report signature can never be taken for a signature over anything else (RFC 8032 s. 8.3 advises
// separating contexts). The verifier re-serialises the parsed report, so the signer must send
// `JSON.stringify(report)` of the same object it signed (what ReportPublisher and the spool do).
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Report } from "../schemas/index.ts";

const CONTEXT = "pilot-wms report v1\n";

/**
 * The seal purpose (seal-keys.ts) of audit records a service writes itself, not about a pilot's
 * attempt: the credential cache seals them, the audit agent checks them.
 */
export const AUDIT_RECORD_SEAL_PURPOSE = "audit-record";

/** The reports that carry an attempt signature (error reports are the pilot's error log and may name no job). */
export type SignableReport = Exclude<Report, { kind: "error" }>;

export interface ReportKeyPair {
  /** SPKI DER in base64: what the pilot advertises (`MachineAdvert.reportKey`). */
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

export function generateReportKey(): ReportKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return { publicKey: publicKey.export({ type: "spki", format: "der" }).toString("base64"), privateKey };
}

function signedText(report: SignableReport): Buffer {
  // Destructuring keeps the other fields in their order, on both sides.
  const { signature: _s, ...rest } = report;
  return Buffer.from(CONTEXT + JSON.stringify(rest), "utf8");
}

/** The report with `signature` set last (the verifier drops it wherever it sits). */
export function signReport<R extends SignableReport>(report: R, key: KeyObject): R {
  const signature = sign(null, signedText(report), key).toString("base64");
  return { ...report, signature };
}

/**
 * Parsing an SPKI costs about as much as a verification, and one key signs every report of a
 * pilot's jobs: the key objects are kept, a bounded number of them.
 */
const KEY_CACHE_MAX = 20_000;
// The pilots' keys, the least recently used out: a full cache no longer drops every live pilot's key at once.
const keyCache = new LRUCache<string, KeyObject>({ max: KEY_CACHE_MAX });

function publicKeyObject(b64: string): KeyObject | undefined {
  let k = keyCache.get(b64);
  if (k) return k;
  try {
    k = createPublicKey({ key: Buffer.from(b64, "base64"), format: "der", type: "spki" });
  } catch {
    return undefined;
  }
  if (k.asymmetricKeyType !== "ed25519") return undefined;
  keyCache.set(b64, k);
  return k;
}

/** True when the report carries a valid signature by `publicKey` (base64 SPKI); false for none, a bad one, or an unusable key. */
export function verifyReportSignature(report: SignableReport, publicKey: string | undefined): boolean {
  if (report.signature === undefined || publicKey === undefined || publicKey === "") return false;
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  const sig = Buffer.from(report.signature, "base64");
  if (sig.length !== 64) return false;
  return verify(null, signedText(report), key, sig);
}

/**
 * A request a pilot makes about an attempt it holds (the pool-lease service's), signed with the same
 * report key, under its own context string so it can never pass for a report or for another
 * purpose's request (RFC 8032 s. 8.3). `text` is the exact text signed.
 */
export function signAttemptRequest(purpose: string, text: string, key: KeyObject): string {
  return sign(null, Buffer.from(`pilot-wms ${purpose} v1\n${text}`, "utf8"), key).toString("base64");
}

/** True when `signature` is `signAttemptRequest(purpose, text)` by the key `publicKey` (base64 SPKI). */
export function attemptRequestSignatureHolds(purpose: string, text: string, signature: string, publicKey: string | undefined): boolean {
  if (publicKey === undefined || publicKey === "") return false;
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  const sig = Buffer.from(signature, "base64");
  if (sig.length !== 64) return false;
  return verify(null, Buffer.from(`pilot-wms ${purpose} v1\n${text}`, "utf8"), key, sig);
}
