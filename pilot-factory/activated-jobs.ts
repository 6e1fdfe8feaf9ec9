// How many activated jobs a queue's pilots could run: the one read the factory makes of the job
// queues, kept behind this function so the source can change without touching the policy.
// A fresh pilot advertises WalltimeLeft = its lifetime and the job ad requires
// WalltimeSec <= WalltimeLeft, so jobs longer than the queue's pilot lifetime are not counted:
// pilots submitted for them would only exit empty.
import type { FactoryQueue } from "../schemas/index.ts";

/** The job queues as the factory reads them (the matchmaker's dispatch queues fit). */
export interface ActivatedJobsSource {
  autoclusters(site: string): Promise<Record<string, { readonly walltimeSec: number }>>;
  queueWaiting(site: string, autocluster: string): Promise<number>;
}

export type ActivatedJobsReader = (site: string, queue: FactoryQueue) => Promise<number>;

export function activatedJobsReader(source: ActivatedJobsSource): ActivatedJobsReader {
  return async (site, queue) => {
    let n = 0;
    for (const [ac, key] of Object.entries(await source.autoclusters(site))) {
      if (key.walltimeSec <= queue.pilotLifetimeSec) n += await source.queueWaiting(site, ac);
    }
    return n;
  };
}
