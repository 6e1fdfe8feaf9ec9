// The knobs a queue may leave out, with the values they take: written once, so the factory, the
// policy and `wms factory status` agree on what an absent knob means.
import type { FactoryQueue } from "../schemas/index.ts";

export const QUEUE_DEFAULTS = {
  censusSec: 30,
  queuedPerJob: 1,
  breakerAfter: 3,
  breakerMaxSec: 600,
} as const;

export type ResolvedQueue = FactoryQueue & { readonly [K in keyof typeof QUEUE_DEFAULTS]-?: number };

export function resolveQueue(q: FactoryQueue): ResolvedQueue {
  return {
    ...q,
    censusSec: q.censusSec ?? QUEUE_DEFAULTS.censusSec,
    queuedPerJob: q.queuedPerJob ?? QUEUE_DEFAULTS.queuedPerJob,
    breakerAfter: q.breakerAfter ?? QUEUE_DEFAULTS.breakerAfter,
    breakerMaxSec: q.breakerMaxSec ?? QUEUE_DEFAULTS.breakerMaxSec,
  };
}
