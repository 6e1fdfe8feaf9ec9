// The report key a claim binds to an attempt sits in the job's Redis record, where the agents read
// it to check the attempt's reports. Unsealed, anyone who can write that record could swap in a key
// of their own and sign reports for the job. So the matchmaker seals the binding when it claims and
// the agents believe the key only with its seal (service-seal.ts; the key is held by those two roles
// only, seal-keys.ts). The lease token is in the sealed text: it is fresh per claim, so a seal can
// neither move to another job nor to another attempt of the same job.
import type { SealVerifier, ServiceSealer } from "./service-seal.ts";

export const REPORT_KEY_SEAL_PURPOSE = "report-key";

/** What a claim binds: the job, the claim's lease token and the pilot's report public key. */
export interface ReportKeyBinding {
  readonly jobId: string;
  readonly leaseToken: string;
  readonly reportKey: string;
}

export function reportKeySealText(b: ReportKeyBinding): string {
  return JSON.stringify([REPORT_KEY_SEAL_PURPOSE, b.jobId, b.leaseToken, b.reportKey]);
}

export function sealReportKey(sealer: ServiceSealer, b: ReportKeyBinding): string {
  return sealer.seal(reportKeySealText(b));
}

export function reportKeySealHolds(verifier: SealVerifier, b: ReportKeyBinding, seal: string | undefined): boolean {
  return verifier.verify(reportKeySealText(b), seal);
}
