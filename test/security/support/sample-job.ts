import { randomBytes } from "node:crypto";
import { SCHEMA_VERSION, type EnvelopeBody, type JobSpec } from "../../../schemas/index.ts";
import { encryptKeysToPilot } from "../../../security/index.ts";
import { USER_DN } from "./pki-fixture.ts";

export function sampleJob(jobId = "job-1"): JobSpec {
  return {
    schemaVersion: SCHEMA_VERSION,
    jobId,
    taskId: "task-1",
    taskName: "mc23.evgen",
    kind: "production",
    vo: "atlas",
    group: "",
    userDn: USER_DN,
    priority: 0,
    site: "SITE_A",
    executable: "/bin/true",
    arguments: [],
    environment: {},
    requirements: "true",
    rank: "0",
    cores: 1,
    memoryMb: 100,
    walltimeSec: 60,
    inputFiles: [],
    outputDataset: "out",
    attempt: 1,
    maxAttempts: 3,
  };
}

/** A valid envelope body for `pilot-1`, its one-time key encrypted to the pilot's public key. */
export function sampleEnvelopeBody(pilotPublicKeyPem: string, over: Partial<EnvelopeBody> = {}, now = Date.now()): EnvelopeBody {
  return {
    schemaVersion: SCHEMA_VERSION,
    job: sampleJob(),
    submitterDn: USER_DN,
    pilotId: "pilot-1",
    lockToken: "lock-token-1",
    encryptedKeys: encryptKeysToPilot(pilotPublicKeyPem, { proxyKey: "the-one-time-key", heartbeatKey: "test.the-heartbeat-key" }),
    nonce: randomBytes(16).toString("hex"),
    issuedAt: now,
    expiresAt: now + 60_000,
    ...over,
  };
}
