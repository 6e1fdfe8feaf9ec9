// Public surface of site-authz/: site authorization (LCAS), account mapping (LCMAPS, with SCAS's
// site-central pool in Redis) and the identity switch (gLExec). Import from here, not from files.
export { roleName, type GridIdentity, type JobRequest } from "./grid-identity.ts";
export { authorize, type AuthzDecision } from "./authz-chain.ts";
export type { AuthzStep } from "./authz-step.ts";
export { ANY_VO } from "./authz-walltime.ts";
export { authorizeAudited } from "./audited-authorize.ts";
export { auditRecord, authzAuditRecord, type AuditContext, type AuditSink } from "./audit-record.ts";
export { redisAuditList, recentAudit, auditListKey, fanOutAudit, AUDIT_LIST_MAX } from "./audit-list.ts";
export { parseGridmap, type Gridmap } from "./gridmap-file.ts";
export { mapRole } from "./role-mapping.ts";
export { AccountMapper, DEFAULT_SCAN_DIRS, type AccountRelease, type Mapping, type MappingStep, type MapOptions, type MapperOptions } from "./account-mapper.ts";
export { PoolLease, poolKey, redisPoolLeases, type AttemptProof, type LeaseResult, type LeaseStatus, type PoolLeaseAsk, type PoolLeaseRecord, type PoolLeases, type PoolReleaseAsk, type ReleaseResult } from "./pool-lease.ts";
export { PoolLeaseClient, POOL_LEASE_SIGN_PURPOSE, poolLeaseSignedText, type PoolLeaseClientOptions } from "./pool-lease-client.ts";
export { startPoolLeaseService, jobStorePoolAttempts, poolLeaseRefusals, poolLeaseRefusedKey, MAX_POOL_REQUEST_AGE_MS, type PoolLeaseService, type PoolLeaseServiceDeps, type PoolLeaseJobs, type PoolJobAttempt } from "./pool-lease-service.ts";
export { checkAccountClean, processesOf, filesOwnedBy, type Cleanliness } from "./account-cleanliness.ts";
export { resolveAccount, type LocalAccount } from "./local-account.ts";
export { wrapperScript, shellQuote } from "./switch-wrapper.ts";
export { checkPilotSecrets } from "./pilot-secrets-check.ts";
export { startSwitched, DEFAULT_PROXY_FILE, WRAPPER_FILE, type SwitchRequest, type SwitchJob, type StartedPayload, type CleanupReport } from "./identity-switch.ts";
export { runPayload, type RunPayloadOptions, type PayloadRun } from "./payload-run.ts";
export { processTree, processCpuSec, processRssKb, sampleTree, reapedChildrenCpuSec, clockTicksPerSec, type TreeSample, type PayloadMeasures } from "./process-tree.ts";
export { loadSiteConfig, findSite } from "./site-config-file.ts";
export { explainAccess, type AccessExplanation } from "./access-explanation.ts";
