import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Id, SiteName } from "./common.ts";

/**
 * The fastest rate a queue may submit at: 100 pilots a second. Above it a typo (`pilotsPerMinute=60000`)
 * would flood the batch system faster than any scheduler takes submissions (HTCondor's schedd and
 * Slurm's slurmctld handle tens to hundreds a second), and the local adapter would fork faster than
 * the node starts processes. Raise it here, once, if a site really needs more.
 */
export const MAX_PILOTS_PER_MINUTE = 6000;

/** The knobs a factory operator tunes per site queue. */
export const FactoryQueueSchema = Type.Object(
  {
    name: Id,
    site: SiteName,
    adapter: Type.Union([Type.Literal("local"), Type.Literal("condor"), Type.Literal("slurm")], { default: "local" }),
    targetIdle: Type.Integer({ minimum: 0, default: 2, description: "Idle pilots to keep waiting for work" }),
    maxPending: Type.Integer({ minimum: 0, default: 10 }),
    maxRunning: Type.Integer({ minimum: 0, default: 50 }),
    maxPerCycle: Type.Integer({ minimum: 0, default: 5 }),
    pilotsPerMinute: Type.Number({ minimum: 0, maximum: MAX_PILOTS_PER_MINUTE, default: 60, description: "Pilots submitted per minute at most (a token bucket); 0 stops submissions" }),
    cycleSec: Type.Number({ minimum: 0.1, maximum: 3600, default: 10 }),
    pilotLifetimeSec: Type.Integer({ minimum: 10, default: 3600 }),
    tokenUses: Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: "Job requests one pilot token allows" }),
    emptyAdvertsLimit: Type.Integer({ minimum: 1, default: 3, description: "Pilot exits after this many adverts in a row found nothing" }),
    censusSec: Type.Optional(
      Type.Number({ minimum: 1, maximum: 3600, default: 30, description: "The census interval: pilots repeat their census this often; one silent for two intervals, or gone from the batch system, is missed" }),
    ),
    queuedPerJob: Type.Optional(
      Type.Number({ minimum: 0, maximum: 100, default: 1, description: "Pilots pending or idle per activated job the queue's pilots can run, at most (Harvester caps new workers by activated jobs)" }),
    ),
    breakerAfter: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 3, description: "Consecutive failed or missed submissions that open the queue's circuit breaker" })),
    breakerMaxSec: Type.Optional(Type.Number({ minimum: 1, maximum: 86400, default: 600, description: "Longest back-off of an open breaker (it doubles from one cycle up to this)" })),
  },
  { additionalProperties: false },
);
export type FactoryQueue = Static<typeof FactoryQueueSchema>;

export const FactoryConfigSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    factoryId: Id,
    queues: Type.Array(FactoryQueueSchema, { maxItems: 1000 }),
  },
  { additionalProperties: false, $id: "FactoryConfig" },
);
export type FactoryConfig = Static<typeof FactoryConfigSchema>;
export const FactoryConfig = defineMessage("FactoryConfig", FactoryConfigSchema);
