import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Id, Timestamp } from "./common.ts";

/**
 * `wms factory set` → the running factory on `names.subjects.factoryControl`: new values for some
 * knobs of one queue. The receiver merges them into the queue and validates the whole queue against
 * FactoryQueueSchema (the bounds live there, once), so only the shape is checked here.
 */
export const KnobChangesSchema = Type.Object(
  {
    targetIdle: Type.Optional(Type.Integer()),
    maxPending: Type.Optional(Type.Integer()),
    maxRunning: Type.Optional(Type.Integer()),
    maxPerCycle: Type.Optional(Type.Integer()),
    pilotsPerMinute: Type.Optional(Type.Number()),
    cycleSec: Type.Optional(Type.Number()),
    pilotLifetimeSec: Type.Optional(Type.Integer()),
    tokenUses: Type.Optional(Type.Integer()),
    emptyAdvertsLimit: Type.Optional(Type.Integer()),
    censusSec: Type.Optional(Type.Number()),
    queuedPerJob: Type.Optional(Type.Number()),
    breakerAfter: Type.Optional(Type.Integer()),
    breakerMaxSec: Type.Optional(Type.Number()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type KnobChanges = Static<typeof KnobChangesSchema>;

export const FactoryControlSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    factoryId: Id,
    queue: Id,
    knobs: KnobChangesSchema,
    at: Timestamp,
  },
  { additionalProperties: false, $id: "FactoryControl" },
);
export type FactoryControl = Static<typeof FactoryControlSchema>;
export const FactoryControl = defineMessage("FactoryControl", FactoryControlSchema);
