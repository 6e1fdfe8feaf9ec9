import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Dn, ErrorReplySchema, Id, ReportKey, Timestamp } from "./common.ts";
import { JobSpecSchema } from "./job-spec.ts";

/** What the matchmaker signs. Kept as JSON text inside the envelope so the signed bytes are unambiguous. */
export const EnvelopeBodySchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    job: JobSpecSchema,
    submitterDn: Dn,
    pilotId: Id,
    lockToken: Type.String({ minLength: 8, maxLength: 128, description: "Proves the claim when heartbeating and reporting" }),
    encryptedKeys: Type.String({
      minLength: 16,
      maxLength: 4096,
      description:
        "The attempt's one-time proxy key and its heartbeat key (security/heartbeat-key.ts), one message encrypted to the pilot's advertised public key (base64; plaintext: proxy key, line feed, heartbeat key). The pilot fetches its credential with the first and MACs its heartbeats for this job with the second",
    }),
    /** The report key the pilot advertised, bound to this attempt: the agents verify the attempt's reports with it. */
    reportKey: Type.Optional(ReportKey),
    nonce: Type.String({ minLength: 16, maxLength: 128 }),
    issuedAt: Timestamp,
    expiresAt: Timestamp,
  },
  { additionalProperties: false, $id: "EnvelopeBody" },
);
export type EnvelopeBody = Static<typeof EnvelopeBodySchema>;
export const EnvelopeBody = defineMessage("EnvelopeBody", EnvelopeBodySchema);

/**
 * What the matchmaker's service key signs to hand envelope signing to a short-lived EC key (the
 * proxy-certificate idiom: one slow RSA signature per few hours, a fast ECDSA one per match).
 */
export const EnvelopeDelegationBodySchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    publicKey: Type.String({ minLength: 16, maxLength: 1024, description: "The delegated ECDSA P-256 public key, SPKI DER in base64" }),
    notBefore: Timestamp,
    notAfter: Timestamp,
    serviceDn: Dn,
  },
  { additionalProperties: false, $id: "EnvelopeDelegationBody" },
);
export type EnvelopeDelegationBody = Static<typeof EnvelopeDelegationBodySchema>;
export const EnvelopeDelegationBody = defineMessage("EnvelopeDelegationBody", EnvelopeDelegationBodySchema);

export const EnvelopeDelegationSchema = Type.Object(
  {
    body: Type.String({ minLength: 2, maxLength: 4096, description: "EnvelopeDelegationBody as JSON text, exactly as signed" }),
    signature: Type.String({ minLength: 16, maxLength: 4096, description: "base64 RSA-SHA256 signature over `body` by the signer certificate's key" }),
  },
  { additionalProperties: false },
);
export type EnvelopeDelegation = Static<typeof EnvelopeDelegationSchema>;

/** Where an envelope sits in a batch signed once (security/envelope-batch.ts: a Merkle tree over the bodies). */
export const EnvelopeBatchSchema = Type.Object(
  {
    size: Type.Integer({ minimum: 2, maximum: 1_048_576, description: "Envelopes signed together" }),
    index: Type.Integer({ minimum: 0, maximum: 1_048_575, description: "This envelope's leaf" }),
    path: Type.Array(Type.String({ minLength: 44, maxLength: 44, description: "SHA-256, base64" }), { maxItems: 20, description: "Sibling hashes from the leaf up to the signed root" }),
  },
  { additionalProperties: false },
);

export const MatchEnvelopeSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    body: Type.String({ minLength: 2, maxLength: 4_000_000, description: "EnvelopeBody as JSON text, exactly as signed" }),
    signature: Type.String({
      minLength: 16,
      maxLength: 4096,
      description: "base64 signature over `body` (or, with `batch`, over the batch's Merkle root): by the delegated key when `delegation` is present, else by the signer certificate's key",
    }),
    signerCert: Type.Optional(Type.String({ minLength: 64, maxLength: 16384, description: "Matchmaker service certificate (PEM); absent when `signerRef` names one the pilot already verified" })),
    delegation: Type.Optional(EnvelopeDelegationSchema),
    signerRef: Type.Optional(
      Type.String({
        pattern: "^[0-9a-f]{64}$",
        description: "Instead of `signerCert` and `delegation`: the id (security/envelope-signing.ts signerRef) of the pair the pilot advertised as `knownSigner`",
      }),
    ),
    batch: Type.Optional(EnvelopeBatchSchema),
  },
  { additionalProperties: false, $id: "MatchEnvelope" },
);
export type MatchEnvelope = Static<typeof MatchEnvelopeSchema>;
export const MatchEnvelope = defineMessage("MatchEnvelope", MatchEnvelopeSchema);

/** Matchmaker → pilot: a match, no match (with a back-off hint), or an error with its code. */
export const MatchReplySchema = Type.Union(
  [
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("match"), envelope: MatchEnvelopeSchema }, { additionalProperties: false }),
    Type.Object(
      { schemaVersion: SchemaVersion, status: Type.Literal("nomatch"), backoffSec: Type.Number({ minimum: 0 }), reason: Type.String({ maxLength: 1024 }) },
      { additionalProperties: false },
    ),
    ErrorReplySchema,
  ],
  { $id: "MatchReply" },
);
export type MatchReply = Static<typeof MatchReplySchema>;
export const MatchReply = defineMessage("MatchReply", MatchReplySchema);
