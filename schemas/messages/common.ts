import { Type, type Static, type TString } from "@sinclair/typebox";
import { SchemaVersion } from "../message.ts";
import { JOB_STATES, REPORTED_STATES } from "../../jobs/lifecycle.ts";

/** Pieces several messages share. */
export const Dn = Type.String({ minLength: 3, maxLength: 1024, pattern: "^/", description: "X.509 subject DN in OpenSSL slash form, e.g. /DC=org/CN=Jane Doe" });
export const Id = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:@-]+$" });
export const SiteName = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_.-]+$" });
export const Timestamp = Type.Integer({ minimum: 0, description: "Milliseconds since the Unix epoch" });
/**
 * A Timestamp from the wire written for a message: ISO 8601, or the bare number when no Date holds
 * it (past ±8.64e15 ms the schema still admits, where toISOString throws a RangeError), so such a
 * stamp is refused or shown for its value.
 */
export function instantText(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms after 1970` : d.toISOString();
}
export const ClassAdText = Type.String({ maxLength: 65536, description: "ClassAd expression or ad in ClassAd syntax" });
export const ReportId = Type.String({ minLength: 8, maxLength: 128, description: "Unique id; consumers use it to stay idempotent" });
export const ErrorCodeField = Type.Integer({ minimum: 1000, maximum: 2999 });
/** A request's single-use id: refused when seen again within the request's validity. */
/** An Ed25519 public key as SPKI DER in base64 (44 bytes: 60 characters). */
export const ReportKey = Type.String({ minLength: 60, maxLength: 60, pattern: "^[A-Za-z0-9+/]+={0,2}$" });
export const Nonce = Type.String({ minLength: 16, maxLength: 128, pattern: "^[A-Za-z0-9_-]+$" });
/** The chain that signed a task batch or a task control request. */
export const SignerCertChain = Type.Array(Type.String({ minLength: 64, maxLength: 16384 }), { minItems: 1, maxItems: 8, description: "PEM: signer first, then any proxies' issuers" });

/**
 * The fields of a signed request on the wire: the exact JSON text that was signed (under `field`,
 * so the verifier checks the bytes the signer saw, never a re-serialisation), its base64 signature
 * and the signer's chain. Task batches, task control and factory control all travel this way.
 */
export function signedTextFields<K extends string>(field: K, what: string, maxLength: number) {
  const text = { [field]: Type.String({ minLength: 2, maxLength, description: `${what} as JSON text, exactly as signed` }) } as { [P in K]: TString };
  return {
    schemaVersion: SchemaVersion,
    ...text,
    signature: Type.String({ minLength: 16, maxLength: 4096, description: `base64 signature over \`${field}\`` }),
    certChain: SignerCertChain,
  };
}

/**
 * A WmsError as it crosses a wire (`WmsError.toReply()`): the one error fragment every answer that
 * can carry an error uses, whole (`ErrorReplySchema`) or per item (a heartbeat batch's jobs).
 */
export const CodedErrorFields = { status: Type.Literal("error"), code: ErrorCodeField, name: Type.String(), message: Type.String({ maxLength: 4096 }) };

/** The error branch of every request/reply answer. */
export const ErrorReplySchema = Type.Object({ schemaVersion: SchemaVersion, ...CodedErrorFields }, { additionalProperties: false });
export type ErrorReply = Static<typeof ErrorReplySchema>;

export const FileRef = Type.Object(
  {
    lfn: Type.String({ minLength: 1, maxLength: 512, pattern: "^[^/\\0][^\\0]*$", description: "Logical file name, relative to the site storage" }),
    dataset: Type.String({ minLength: 1, maxLength: 256 }),
    size: Type.Integer({ minimum: 0 }),
    adler32: Type.String({ pattern: "^[0-9a-f]{8}$" }),
    md5: Type.String({ pattern: "^[0-9a-f]{32}$" }),
  },
  { additionalProperties: false },
);

/** A job state as it crosses a wire; the list is the life cycle's (jobs/lifecycle.ts, pure, imports nothing). */
export const JobStateName = Type.Union(JOB_STATES.map((s) => Type.Literal(s)));
/** A state a pilot's report may name (jobs/lifecycle.ts REPORTED_STATES). */
export const ReportedStateName = Type.Union(REPORTED_STATES.map((s) => Type.Literal(s)));
