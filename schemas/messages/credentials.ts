import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Dn, ErrorReplySchema, Id, Timestamp } from "./common.ts";

// The credential cache's request/reply messages (agents/credentials/, MyProxy's role). Every
// request but the certificate query is signed: `body` is the exact JSON text signed by the key of
// `certChain[0]`, whose chain the cache verifies against the CA. No private key crosses NATS:
// delegation is MyProxy's (the key pair is made by whoever will hold the proxy, which sends a
// PKCS#10 request and gets back a certificate chain), and the one secret that does cross, the
// one-time key, is encrypted to the cache's certificate.

const Pem = Type.String({ minLength: 64, maxLength: 16384 });
/** A PKCS#10 certificate request (PEM): the public half of a key pair its sender keeps. */
const CertificateRequest = Type.String({ minLength: 64, maxLength: 8192, description: "PKCS#10 request (PEM) for the key pair the requester keeps" });
const ProxyChain = Type.Array(Pem, { minItems: 2, maxItems: 8, description: "The delegated proxy first, then its issuers up to (not including) the CA" });
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

/**
 * myproxy-init, step 1: the cache makes a key pair and answers with a certificate request for it
 * (signed by its service key, so the client knows the request is the cache's).
 */
export const CredDelegateBeginBodySchema = Type.Object(
  { schemaVersion: SchemaVersion, op: Type.Literal("delegate-begin"), userDn: Type.Optional(Dn), issuedAt: Timestamp },
  { additionalProperties: false, $id: "CredDelegateBeginBody" },
);
export type CredDelegateBeginBody = Static<typeof CredDelegateBeginBodySchema>;
export const CredDelegateBeginBody = defineMessage("CredDelegateBeginBody", CredDelegateBeginBodySchema);

/**
 * myproxy-init, step 2: the proxy the caller signed for that request's key, and its retrieval
 * policy. The cache stores it with the key it kept under `userDn`.
 */
export const CredDelegateBodySchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    op: Type.Literal("delegate"),
    requestId: Id,
    userDn: Type.Optional(Dn),
    retrievers: Type.Array(RetrieverRule, { minItems: 1, maxItems: 64 }),
    proxyChain: ProxyChain,
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

/**
 * Retrieval (first use of the one-time key) or renewal (the same key, within the job's allowance),
 * as myproxy-logon: the caller sends a request for a key pair it made, and gets a fresh proxy that
 * the cache signs with the stored one.
 */
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
    csr: CertificateRequest,
    issuedAt: Timestamp,
  },
  { additionalProperties: false, $id: "CredRetrieveBody" },
);
export type CredRetrieveBody = Static<typeof CredRetrieveBodySchema>;
export const CredRetrieveBody = defineMessage("CredRetrieveBody", CredRetrieveBodySchema);

export const CredReplySchema = Type.Union(
  [
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("ok"), op: Type.Literal("certificate"), cacheCert: Pem }, { additionalProperties: false }),
    Type.Object(
      {
        schemaVersion: SchemaVersion,
        status: Type.Literal("ok"),
        op: Type.Literal("delegate-begin"),
        requestId: Id,
        csr: CertificateRequest,
        /** The cache's service key over `requestId`, a newline and `csr`. */
        signature: Type.String({ minLength: 16, maxLength: 4096 }),
      },
      { additionalProperties: false },
    ),
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
        proxyChain: ProxyChain,
      },
      { additionalProperties: false },
    ),
    ErrorReplySchema,
  ],
  { $id: "CredReply" },
);
export type CredReply = Static<typeof CredReplySchema>;
export const CredReply = defineMessage("CredReply", CredReplySchema);
