// Every Redis key the factory writes, in one place. A factory's keys carry `{factoryId}` as a
// Redis Cluster hash tag, so the census script's multi-key updates stay in one slot.
import type { WireNames } from "../schemas/index.ts";

export interface QueueKeys {
  /** Sets of pilot ids by census state. */
  readonly pending: string;
  readonly idle: string;
  readonly running: string;
  /** Pilots not yet exited, scored by submit time: the reaper's index. */
  readonly alive: string;
  /** Pilots not yet exited that have sent a census, scored by the last one: census expiry's index. */
  readonly heard: string;
  /** Pilot ids scored by submit time, last minute only: the measured rate. */
  readonly submits: string;
  /** Hash of counters: submitted, exited, empty, lost, submitFailures, appeared, missedPending. */
  readonly counts: string;
  /** Hash of knob overrides set live (`wms factory set`), applied over the config file at start. */
  readonly knobs: string;
}

export interface FactoryKeys {
  /** Sorted set of factory ids, scored by their last status write. */
  readonly factories: string;
  /** Hash: queue name → FactoryQueueStatus JSON. */
  readonly status: string;
  /** Held (SET NX with expiry) by the one process running this factory id. */
  readonly lease: string;
  pilot(pilotId: string): string;
  /** Set of the sites this factory has submitted pilots to: `wms pilot list`'s way in. */
  readonly sites: string;
  /** Sorted set of the ids of pilots submitted to a site, scored by submit time: `wms pilot list`'s index. */
  sitePilots(site: string): string;
  queue(queue: string): QueueKeys;
}

export function factoryKeys(names: WireNames, factoryId: string): FactoryKeys {
  const tag = `{${factoryId}}`;
  const k = (...parts: string[]): string => names.redisKey("factory", tag, ...parts);
  return {
    factories: names.redisKey("factories"),
    status: k("status"),
    lease: k("lease"),
    pilot: (pilotId) => k("pilot", pilotId),
    sites: k("sites"),
    sitePilots: (site) => k("site", site, "pilots"),
    queue: (queue) => ({
      pending: k("q", queue, "pending"),
      idle: k("q", queue, "idle"),
      running: k("q", queue, "running"),
      alive: k("q", queue, "alive"),
      heard: k("q", queue, "heard"),
      submits: k("q", queue, "submits"),
      counts: k("q", queue, "counts"),
      knobs: k("q", queue, "knobs"),
    }),
  };
}

/** The index of factories, for readers that do not know a factory id yet. */
export function factoriesKey(names: WireNames): string {
  return names.redisKey("factories");
}
