// Each queue's status, written by the running factory every cycle and read by `wms factory status`
// and the monitor. Validated where it is read back, like any other message.
import type { RedisClient } from "../platform/redis-client.ts";
import { FactoryQueueStatus, type WireNames } from "../schemas/index.ts";
import { factoriesKey, factoryKeys } from "./factory-keys.ts";

export async function writeQueueStatus(redis: RedisClient, names: WireNames, status: FactoryQueueStatus): Promise<void> {
  const keys = factoryKeys(names, status.factoryId);
  // Two commands, not a MULTI: the index of factories and a factory's keys are in different Redis
  // Cluster slots. The status first, so a reader that finds the factory in the index finds its status.
  await redis.hset(keys.status, status.queue, JSON.stringify(status));
  await redis.zadd(keys.factories, status.at, status.factoryId);
}

/** Factory ids that have written a status, most recent first. */
export async function knownFactories(redis: RedisClient, names: WireNames): Promise<string[]> {
  return redis.zrevrange(factoriesKey(names), 0, -1);
}

export interface StatusReadResult {
  readonly queues: FactoryQueueStatus[];
  /** Entries that did not validate (written by another version), by factory/queue. */
  readonly invalid: string[];
}

/** Every queue's status of one factory, or of all factories. */
export async function readFactoryStatus(redis: RedisClient, names: WireNames, factoryId?: string): Promise<StatusReadResult> {
  const ids = factoryId !== undefined ? [factoryId] : await knownFactories(redis, names);
  const queues: FactoryQueueStatus[] = [];
  const invalid: string[] = [];
  for (const id of ids) {
    const entries = await redis.hgetall(factoryKeys(names, id).status);
    for (const [queue, text] of Object.entries(entries)) {
      try {
        queues.push(FactoryQueueStatus.parseJson(text));
      } catch {
        invalid.push(`${id}/${queue}`);
      }
    }
  }
  queues.sort((a, b) => a.factoryId.localeCompare(b.factoryId) || a.queue.localeCompare(b.queue));
  return { queues, invalid };
}

export interface PilotCountRow {
  readonly site: string;
  readonly state: "pending" | "idle" | "running" | "exited" | "empty";
  readonly count: number;
}

/** Pilots per site and state, summed over queues and factories: the monitor's census rows. */
export function pilotCountsBySite(queues: readonly FactoryQueueStatus[]): PilotCountRow[] {
  const bySite = new Map<string, Record<PilotCountRow["state"], number>>();
  for (const q of queues) {
    const s = bySite.get(q.site) ?? { pending: 0, idle: 0, running: 0, exited: 0, empty: 0 };
    s.pending += q.pending;
    s.idle += q.idle;
    s.running += q.running;
    s.exited += q.exited;
    s.empty += q.emptyPilots;
    bySite.set(q.site, s);
  }
  const rows: PilotCountRow[] = [];
  for (const [site, counts] of bySite) {
    for (const state of ["pending", "idle", "running", "exited", "empty"] as const) rows.push({ site, state, count: counts[state] });
  }
  return rows;
}
