// One LCAS-style plug-in, compiled once per site config so a per-advert check is a few set lookups.
import type { ErrorCode } from "../schemas/index.ts";
import type { GridIdentity, JobRequest } from "./grid-identity.ts";

export interface AuthzStep {
  readonly plugin: string;
  readonly allowed: boolean;
  readonly reason: string;
  /** The registry code of a refusal. */
  readonly code?: ErrorCode;
}

export type CompiledPlugin = (identity: GridIdentity, dn: string, job: JobRequest | undefined) => AuthzStep;
