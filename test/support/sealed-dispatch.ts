// Dispatch queues that seal every spec with the intake's key before queueing it, as the intake
// does, for tests that queue jobs without going through a submitted task.
import type { Redis } from "ioredis";
import type { JobSpec, WireNames } from "../../schemas/index.ts";
import { DispatchQueues, type DispatchQueuesOptions } from "../../matchmaker/dispatch-queues.ts";
import { JOB_SPEC_SEAL_PURPOSE, readServiceCredentials, sealJobSpec, ServiceSealer } from "../../security/index.ts";

export class SealedDispatchQueues extends DispatchQueues {
  private readonly sealer: ServiceSealer;

  constructor(
    opts: DispatchQueuesOptions,
    pkiDir: string,
    private readonly sealRedis: Redis,
    private readonly sealNames: WireNames,
  ) {
    super(opts);
    this.sealer = new ServiceSealer(readServiceCredentials(pkiDir, "intake"), JOB_SPEC_SEAL_PURPOSE);
  }

  override async enqueue(specs: readonly JobSpec[]): Promise<void> {
    await this.sealer.ready(this.sealRedis, this.sealNames);
    await super.enqueue(specs.map((s) => sealJobSpec(this.sealer, s)));
  }
}
