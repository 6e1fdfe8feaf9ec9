// Public surface of agents/accounting/: usage, quotas, fair share, and the accounting and audit consumers.
export { UsageStore, USAGE_BUCKETS, USAGE_KINDS, attemptAccountedKey, usageAddKeys, usageHashKey, usageShard, type Usage, type UsageKind, type Quotas, type QuotaExceeded } from "./usage-store.ts";
export { accountingConsumer, type AccountingAgentOptions } from "./accounting-agent.ts";
export { auditConsumer, auditLog, AUDIT_LIST_CAP } from "./audit-agent.ts";
export { formatUsageTable } from "./usage-table.ts";
