// Public surface of schemas/: every contract between the parts. Import from here, not from files.
export { SCHEMA_VERSION, defineMessage, describeErrors, type Message } from "./message.ts";
export { ERROR_CODES, ERR, errorEntry, errorByName, isRetryable, type ErrorCodeEntry, type ErrorCategory, type ErrorCode, type ErrorName } from "./error-codes.ts";
export { WmsError, isWmsError } from "./wms-error.ts";
export { wireNames, type WireNames } from "./names.ts";
export * from "./messages/common.ts";
export * from "./messages/machine-advert.ts";
export * from "./messages/job-spec.ts";
export * from "./messages/task-batch.ts";
export * from "./messages/match-envelope.ts";
export * from "./messages/heartbeat.ts";
export * from "./messages/reports.ts";
export * from "./messages/factory-config.ts";
export * from "./messages/factory-control.ts";
export * from "./messages/factory-status.ts";
export * from "./messages/pilot-census.ts";
export * from "./messages/site-config.ts";
export * from "./messages/wms-config.ts";
export { ALL_MESSAGES } from "./registry.ts";
