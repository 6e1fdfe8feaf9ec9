// The HTTP status of each refusal the monitor answers, by its registry code: one table, owned here
// since the monitor is the one part that answers over HTTP (the registry itself knows no transport).
// A code not in the table is the request's fault: 400. What is refused before a request has a code
// of ours (Node's parser, Fastify's router: 408, 414, 431) is answered where it is met.
import { ERR } from "../../schemas/index.ts";

const STATUS_BY_CODE: ReadonlyMap<number, number> = new Map([
  [ERR.NOT_FOUND, 404],
  [ERR.METHOD_NOT_ALLOWED, 405],
  // The monitor's own failures and its servers' absence, not the caller's: a client may try again.
  [ERR.INTERNAL, 500],
  [ERR.FILE_SYSTEM_REFUSED, 500],
  [ERR.SERVICE_UNAVAILABLE, 503],
]);

/** The HTTP status the monitor answers a refusal with this registry code with. */
export function httpStatusFor(code: number): number {
  return STATUS_BY_CODE.get(code) ?? 400;
}
