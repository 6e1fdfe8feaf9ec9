import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Id, SiteName, Timestamp } from "./common.ts";
import { FactoryQueueSchema } from "./factory-config.ts";

/**
 * Factory → Redis each cycle, one per queue, read by `wms factory status` and the monitor.
 * `ratePerMin` counts pilots submitted in the last 60 s; `targetPerMin` is the queue's knob.
 */
export const FactoryQueueStatusSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    factoryId: Id,
    queue: Id,
    site: SiteName,
    adapter: Type.String({ maxLength: 32 }),
    submitted: Type.Integer({ minimum: 0 }),
    pending: Type.Integer({ minimum: 0 }),
    idle: Type.Integer({ minimum: 0 }),
    running: Type.Integer({ minimum: 0 }),
    exited: Type.Integer({ minimum: 0 }),
    emptyPilots: Type.Integer({ minimum: 0, description: "Exited having found no job" }),
    lost: Type.Integer({ minimum: 0, description: "Missed (Harvester's word): gone without an exit census, by the batch system's view, census expiry or twice the lifetime" }),
    waitingJobs: Type.Integer({ minimum: 0 }),
    ratePerMin: Type.Number({ minimum: 0 }),
    targetPerMin: Type.Number({ minimum: 0 }),
    lastCycleSubmitted: Type.Integer({ minimum: 0 }),
    breaker: Type.Optional(
      Type.Object(
        {
          state: Type.Union([Type.Literal("closed"), Type.Literal("open"), Type.Literal("half-open")]),
          failures: Type.Integer({ minimum: 0, description: "Consecutive failed or missed submissions" }),
          backoffSec: Type.Number({ minimum: 0 }),
          retryAt: Type.Optional(Timestamp),
          reason: Type.Optional(Type.Object({ code: Type.Integer(), message: Type.String({ maxLength: 4096 }) }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
    lastError: Type.Optional(Type.Object({ code: Type.Integer(), message: Type.String({ maxLength: 4096 }) }, { additionalProperties: false })),
    knobs: FactoryQueueSchema,
    at: Timestamp,
  },
  { additionalProperties: false, $id: "FactoryQueueStatus" },
);
export type FactoryQueueStatus = Static<typeof FactoryQueueStatusSchema>;
export const FactoryQueueStatus = defineMessage("FactoryQueueStatus", FactoryQueueStatusSchema);
