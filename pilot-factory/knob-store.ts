// Live knob changes: persisted in Redis (so a restarted factory keeps them) and announced on NATS
// (so the running factory applies them within one cycle).
import type { NatsConnection } from "nats";
import type { Redis } from "ioredis";
import { FactoryControl, SCHEMA_VERSION, type KnobChanges, type WireNames } from "../schemas/index.ts";
import { factoryKeys } from "./factory-keys.ts";
import { parseKnobChanges } from "./knob-changes.ts";

const encoder = new TextEncoder();

export async function saveKnobChanges(redis: Redis, names: WireNames, factoryId: string, queue: string, changes: KnobChanges): Promise<void> {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(changes)) fields[k] = String(v);
  await redis.hset(factoryKeys(names, factoryId).queue(queue).knobs, fields);
}

/** The changes persisted for a queue (validated), or undefined when there are none. */
export async function loadKnobChanges(redis: Redis, names: WireNames, factoryId: string, queue: string): Promise<KnobChanges | undefined> {
  const h = await redis.hgetall(factoryKeys(names, factoryId).queue(queue).knobs);
  if (Object.keys(h).length === 0) return undefined;
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) {
    const n = Number(v);
    // Anything but a number is left as text, so validation names the bad field.
    raw[k] = Number.isFinite(n) && v.trim() !== "" ? n : v;
  }
  return parseKnobChanges(raw);
}

/** Tells a running factory; resolves once the message has left for the server. */
export async function publishKnobChanges(nc: NatsConnection, names: WireNames, factoryId: string, queue: string, changes: KnobChanges, nowMs: number): Promise<FactoryControl> {
  const msg: FactoryControl = FactoryControl.parse({ schemaVersion: SCHEMA_VERSION, factoryId, queue, knobs: changes, at: nowMs });
  nc.publish(names.subjects.factoryControl, encoder.encode(JSON.stringify(msg)));
  await nc.flush();
  return msg;
}
