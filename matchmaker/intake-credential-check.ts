// Submit checks what it can: a task whose owner has no delegated credential, or one that expires
// before a job could finish, would only burn every attempt (each pilot's retrieval fails). The
// intake asks the credential cache (MyProxy's myproxy-info, over NATS) and refuses such a task with
// the cause's code, or, when the submitter asked only to be warned, accepts it and says why.
import { ERR, isWmsError, WmsError, type TaskBatch } from "../schemas/index.ts";

/** What the intake needs of the credential cache: myproxy-info for a given user. */
export interface OwnerCredentialLookup {
  info(userDn: string): Promise<{ readonly found: boolean; readonly timeLeftSec?: number }>;
}

/** Seconds a credential must still have: a job that starts now runs for up to its walltime. */
export function neededCredentialSec(batch: TaskBatch): number {
  return batch.jobTemplate.walltimeSec;
}

/** The refusal for a credential with `timeLeftSec` left (undefined: none stored), or undefined when it will do. */
export function credentialShortfall(ownerDn: string, timeLeftSec: number | undefined, neededSec: number): WmsError | undefined {
  if (timeLeftSec === undefined || timeLeftSec <= 0) return new WmsError(ERR.CREDENTIAL_NOT_STORED, `none for ${ownerDn}; its jobs could not fetch one`);
  if (timeLeftSec < neededSec) {
    const h = (s: number): string => `${(s / 3600).toFixed(1)} h`;
    return new WmsError(ERR.CREDENTIAL_TOO_SHORT, `${ownerDn}'s credential has ${h(timeLeftSec)} left, a job's walltime is ${h(neededSec)}`);
  }
  return undefined;
}

/**
 * Throws the refusal, or returns the warnings for the reply (empty when the credential will do).
 * A cache that does not answer is a refusal too (SERVICE_UNAVAILABLE / TIMEOUT) unless only warned about.
 */
export async function checkOwnerCredential(lookup: OwnerCredentialLookup, batch: TaskBatch, ownerDn: string): Promise<string[]> {
  let problem: WmsError | undefined;
  try {
    const info = await lookup.info(ownerDn);
    problem = credentialShortfall(ownerDn, info.found ? (info.timeLeftSec ?? 0) : undefined, neededCredentialSec(batch));
  } catch (e) {
    problem = isWmsError(e) ? e : new WmsError(ERR.SERVICE_UNAVAILABLE, `credential cache: ${(e as Error).message}`);
  }
  if (problem === undefined) return [];
  if (batch.proxyCheck === "warn") return [`${problem.toLine()} (accepted: the credential check was set to warn)`];
  throw problem;
}
