/** What a service started by `wms up` sends over its IPC channel once it serves (cli/command-kit.ts's serveUntilStopped). */
export const READY_MESSAGE = "wms:ready";

/**
 * Set by `wms up` on every service it starts: `attached` (a terminal whose Ctrl-C stops it all) or
 * `detached` (`wms down` does). A service's start line then says how it really stops: its own
 * Ctrl-C is not the operator's, the supervisor's is (cli/command-kit.ts's stopHint).
 */
export const UP_SUPERVISOR_ENV = "WMS_UP_SUPERVISOR";
export type UpSupervisorMode = "attached" | "detached";
