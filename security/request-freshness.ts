// Every signed request that changes something carries its issue time, its expiry and a nonce
// inside the signed text; the receiver refuses one outside its window and each nonce twice, keeping
// the nonce (NonceStore, Redis) exactly as long as the request could still be accepted.
import { ERR, instantText, WmsError } from "../schemas/index.ts";
import { randomBase64url } from "./random-pool.ts";

export interface Freshness {
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly nonce: string;
}

/** Clock skew tolerated between signer and receiver. */
export const REQUEST_SKEW_MS = 5 * 60_000;
/** Default and longest validity of a signed request: long enough for a slow link, short enough that the nonce store stays small. */
export const REQUEST_VALIDITY_MS = 10 * 60_000;
export const MAX_REQUEST_VALIDITY_MS = 60 * 60_000;

export function newFreshness(now = Date.now(), validityMs = REQUEST_VALIDITY_MS): Freshness {
  return { issuedAt: now, expiresAt: now + validityMs, nonce: randomBase64url(18) };
}

/** The request's own stamps, checked against `now`; throws SEC_REQUEST_EXPIRED (or BAD_INPUT when they are missing). */
export function checkFreshness(f: Partial<Freshness>, what: string, now = Date.now()): Freshness {
  const { issuedAt, expiresAt, nonce } = f;
  if (issuedAt === undefined || expiresAt === undefined || nonce === undefined) {
    throw new WmsError(ERR.SEC_REQUEST_EXPIRED, `the ${what} carries no issuedAt, expiresAt and nonce; sign it with a current wms`);
  }
  if (now >= expiresAt) throw new WmsError(ERR.SEC_REQUEST_EXPIRED, `the ${what} expired at ${instantText(expiresAt)}; sign a new one`);
  if (issuedAt > now + REQUEST_SKEW_MS) throw new WmsError(ERR.SEC_REQUEST_EXPIRED, `the ${what} was issued in the future (${instantText(issuedAt)}); check the clocks`);
  if (expiresAt - issuedAt > MAX_REQUEST_VALIDITY_MS) {
    throw new WmsError(ERR.SEC_REQUEST_EXPIRED, `the ${what} is valid for ${Math.round((expiresAt - issuedAt) / 60_000)} min, more than ${MAX_REQUEST_VALIDITY_MS / 60_000}; sign one with a shorter validity`);
  }
  return { issuedAt, expiresAt, nonce };
}
