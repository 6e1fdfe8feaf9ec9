// Public surface of security/: PKI, proxies, chain verification, signatures, envelopes, pilot-key
// encryption, credential sealing, and the Redis-backed token / one-time-key / nonce stores.
export { ATTRIBUTES_OID, PROXY_CERT_INFO_OID } from "./oids.ts";
export { parseDn, formatDn } from "./dn.ts";
export { generateRsaKeyPair, type KeyPairPem } from "./key-pair.ts";
export { encodeAttributeExtension, type VoAttributes, type CertificateKind } from "./attribute-certificate.ts";
export { createCa, issueFromCa, type CertificateAndKey, type IssueRequest } from "./certificate-authority.ts";
export { initPki, issueCertificate, readCa, readServiceCredentials, pkiPaths, SERVICE_ROLES, type ServiceName, type InitPkiResult, type PkiPaths } from "./pki-directory.ts";
export { createProxy, type ProxyCredential, type CreateProxyOptions } from "./proxy-certificate.ts";
export { loadTrust, splitPems, type TrustStore, type TrustedCa } from "./trust-store.ts";
export { verifyChain, type VerifiedIdentity } from "./chain-verification.ts";
export { signData, verifyData, verifyWithKey, createDataSigner, type DataSigner } from "./detached-signature.ts";
export { createForgeSigner, createForgeVerifier } from "./forge-signature.ts";
export { createEnvelopeSigner, createBatchEnvelopeSigner, verifyEnvelope, MATCHMAKER_ROLE, type EnvelopeSigner, type BatchEnvelopeSigner, type EnvelopeSignerOptions, type VerifyEnvelopeOptions } from "./envelope-signing.ts";
export { carriedSigner, namingSigner, SignerCache, signerRef, type SignerPair } from "./signer-cache.ts";
export { createEnvelopeDelegate, verifyDelegation, DELEGATION_LIFETIME_SEC, MAX_DELEGATION_LIFETIME_MS, type EnvelopeDelegate } from "./envelope-delegation.ts";
export { generatePilotKeyPair, encryptToPilot, decryptFromPilot, rotateEphemeralKey } from "./pilot-key-encryption.ts";
export { encryptToCertificate, decryptWithKey } from "./certificate-encryption.ts";
export { signTaskBatch, verifyTaskBatch } from "./task-batch-signing.ts";
export { sealCredential, openCredential, credentialKeyFromBase64 } from "./credential-seal.ts";
export { AuditLog, auditStreamKey, type AuditEntry } from "./audit-log.ts";
export { PilotTokenStore, type MintTokenRequest, type ConsumedToken } from "./pilot-token-store.ts";
export { OneTimeKeyStore, type KeyBinding, type ConsumedKey, type OneTimeKeyStoreOptions, type PreparedKey } from "./one-time-key-store.ts";
export { NonceStore } from "./nonce-store.ts";
export { randomHex, randomBase64url, randomBuffer } from "./random-pool.ts";
export { TRANSPORT_ROLES, isTransportRole, natsPermissions, redisAcl, rabbitPermissions, transportUser, inboxPrefix, type TransportRole, type NatsPermissions, type RedisAcl, type RabbitPermissions } from "./transport-roles.ts";
export { initTransportSecrets, rabbitPasswordHash, redisPasswordHash, type SecretsInitResult, type RoleIdentity } from "./transport-secrets.ts";
