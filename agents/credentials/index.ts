// Public surface of agents/credentials/: the credential cache service and its client.
export { startCredentialCache, delegationsBegunKey, type CredentialCache, type CredentialCacheDeps } from "./credential-cache.ts";
export { CredentialClient, CREDENTIALS_ROLE, RETRIEVE_RETRY_MS, type CallerCredential, type CredentialInfo, type RetrieveRequest, type RetrievedProxy } from "./credential-client.ts";
export { satisfiesRetrievalPolicy, PILOT_ROLE_RULE } from "./retrieval-policy.ts";
export { credentialKey } from "./credential-records.ts";
