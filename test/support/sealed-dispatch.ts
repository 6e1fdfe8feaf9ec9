// A job store that seals every spec with the intake's key as it records a task, as the intake does,
// for tests that create jobs without going through a submitted task. The matchmaker signs no
// envelope for a spec (read from the job's record at claim time) that does not carry the seal.
import type { RedisClient } from "../../platform/redis-client.ts";
import type { WireNames } from "../../schemas/index.ts";
import { JobStore, type NewJob, type TaskRecord } from "../../jobs/index.ts";
import { JOB_SPEC_SEAL_PURPOSE, pkiSealKeys, sealJobSpec, ServiceSealer } from "../../security/index.ts";

export class SealedJobStore extends JobStore {
  private readonly sealer: ServiceSealer;

  constructor(
    private readonly sealRedis: RedisClient,
    private readonly sealNames: WireNames,
    pkiDir: string,
  ) {
    super(sealRedis, sealNames);
    this.sealer = new ServiceSealer(pkiSealKeys(pkiDir).jobSpec, JOB_SPEC_SEAL_PURPOSE);
  }

  override async createTask(task: Omit<TaskRecord, "status" | "njobs" | "createdAt" | "updatedAt">, jobs: readonly NewJob[], now = Date.now()): Promise<TaskRecord> {
    return super.createTask(task, jobs.map((j) => ({ ...j, spec: sealJobSpec(this.sealer, j.spec) })), now);
  }
}
