import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Dn, ErrorReplySchema, Id, Timestamp } from "./common.ts";

// The credential cache's request/reply messages (agents/credentials/, MyProxy's role). Every
// request but the certificate query is signed: `body` is the exact JSON text signed by the key of
// `certChain[0]`, whose chain the cache verifies against the CA. Secrets (the proxy key, the
// one-time key, the retrieved proxy) cross NATS only encrypted to the receiver's certificate.

const Pem = Type.String({ minLength: 64, maxLength: 16384 });
const Encrypted = Type.String({ minLength: 16, maxLength: 65536, description: "base64, RSA-OAEP + AES-256-GCM to the receiver's certificate" });
/** A retrieval policy entry: a DN allowed to retrieve, or `role:pilot` (any pilot certificate of our CA). */
export const RetrieverRule = Type.Union([Dn, Type.Literal("role:pilot")]);

/** Asks for the cache's own certificate, to encrypt to it. The only unsigned request. */
export const CredCertificateQuerySchema = Type.Object({ schemaVersion: SchemaVersion, op: Type.Literal("certificate") }, { additionalProperties: false, $id: "CredCertificateQuery" });
export type CredCertificateQuery = Static<typeof CredCertificateQuerySchema>;
export const CredCertificateQuery = defineMessage("CredCertificateQuery", CredCertificateQuerySchema);

export const CredSignedRequestSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    body: Type.String({ minLength: 2, maxLength: 262144, description: "One of the Cred*Body messages as JSON text, exactly as signed" }),
    signature: Type.String({ minLength: 16, maxLength: 4096 }),
    certChain: Type.Array(Pem, { minItems: 1, maxItems: 8, description: "Caller's chain, leaf (e.g. the proxy) first" }),
  },
  { additionalProperties: false, $id: "CredSignedRequest" },
);
export type CredSignedRequest = Static<typeof CredSignedRequestSchema>;
export const CredSignedRequest = defineMessage("CredSignedRequest", CredSignedRequestSchema);

/** Stores the caller's proxy (certChain of the signed request) under `userDn` with its retrieval policy. */
export const CredDelegateBodySchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    op: Type.Literal("delegate"),
    userDn: Type.Optional(Dn),
    retrievers: Type.Array(RetrieverRule, { minItems: 1, maxItems: 64 }),
    proxyKey: Encrypted,
    issuedAt: Timestamp,
  },
  { additionalProperties: false, $id: "CredDelegateBody" },
);
export type CredDelegateBody = Static<typeof CredDelegateBodySchema>;
export const CredDelegateBody = defineMessage("CredDelegateBody", CredDelegateBodySchema);

export const CredInfoBodySchema = Type.Object(
  { schemaVersion: SchemaVersion, op: Type.Literal("info"), userDn: Type.Optional(Dn), issuedAt: Timestamp },
  { additionalProperties: false, $id: "CredInfoBody" },
);
export type CredInfoBody = Static<typeof CredInfoBodySchema>;
export const CredInfoBody = defineMessage("CredInfoBody", CredInfoBodySchema);

/** Retrieval (first use of the one-time key) or renewal (the same key, within the job's allowance). */
export const CredRetrieveBodySchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    op: Type.Union([Type.Literal("retrieve"), Type.Literal("renew")]),
    userDn: Type.Optional(Dn),
    jobId: Id,
    pilotId: Id,
    /** The attempt the one-time key was minted for (the envelope's job.attempt). */
    attempt: Type.Integer({ minimum: 1 }),
    oneTimeKey: Encrypted,
    issuedAt: Timestamp,
  },
  { additionalProperties: false, $id: "CredRetrieveBody" },
);
export type CredRetrieveBody = Static<typeof CredRetrieveBodySchema>;
export const CredRetrieveBody = defineMessage("CredRetrieveBody", CredRetrieveBodySchema);

export const CredReplySchema = Type.Union(
  [
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("ok"), op: Type.Literal("certificate"), cacheCert: Pem }, { additionalProperties: false }),
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("ok"), op: Type.Literal("delegate"), userDn: Dn, notAfter: Timestamp }, { additionalProperties: false }),
    Type.Object(
      {
        schemaVersion: SchemaVersion,
        status: Type.Literal("ok"),
        op: Type.Literal("info"),
        found: Type.Boolean(),
        username: Dn,
        owner: Type.Optional(Dn),
        retrievers: Type.Optional(Type.Array(RetrieverRule)),
        notAfter: Type.Optional(Timestamp),
        timeLeftSec: Type.Optional(Type.Integer({ minimum: 0 })),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        schemaVersion: SchemaVersion,
        status: Type.Literal("ok"),
        op: Type.Union([Type.Literal("retrieve"), Type.Literal("renew")]),
        userDn: Dn,
        notAfter: Timestamp,
        renewalsLeft: Type.Integer({ minimum: 0 }),
        proxy: Encrypted,
      },
      { additionalProperties: false },
    ),
    ErrorReplySchema,
  ],
  { $id: "CredReply" },
);
export type CredReply = Static<typeof CredReplySchema>;
export const CredReply = defineMessage("CredReply", CredReplySchema);
