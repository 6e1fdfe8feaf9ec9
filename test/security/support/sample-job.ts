import { SCHEMA_VERSION, type JobSpec } from "../../../schemas/index.ts";
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
