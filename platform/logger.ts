import { pino, destination, type Logger } from "pino";

export type { Logger };

/**
 * pino: structured JSON logs at a cost low enough for the advert hot path. Services log to stderr
 * so stdout stays for command output (`--json`).
 */
export function createLogger(name: string, level = "info"): Logger {
  return pino({ name, level, base: { svc: name } }, destination(2));
}
