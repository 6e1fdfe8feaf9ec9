/** What a service started by `wms up` sends over its IPC channel once it serves (cli/command-kit.ts's serveUntilStopped). */
export const READY_MESSAGE = "wms:ready";
