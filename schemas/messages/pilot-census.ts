import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Id, SiteName, Timestamp } from "./common.ts";

/**
 * Pilot → factory, fire and forget on `names.subjects.pilotCensus`: the pilot's state as it
 * changes. The factory counts pending (submitted, not yet seen), idle, running, exited and empty
 * pilots (exited having found no job) from these; `starting` counts as idle (alive, no job yet).
 */
export const PilotCensusSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    pilotId: Id,
    site: SiteName,
    queue: Type.Optional(Id),
    factoryId: Type.Optional(Id),
    state: Type.Union([Type.Literal("starting"), Type.Literal("idle"), Type.Literal("running"), Type.Literal("exited")]),
    jobsDone: Type.Integer({ minimum: 0 }),
    jobsFailed: Type.Optional(Type.Integer({ minimum: 0 })),
    emptyAdverts: Type.Integer({ minimum: 0 }),
    heldReports: Type.Optional(
      Type.Integer({ minimum: 0, description: "Reports held in memory only (RabbitMQ unreachable and the spool unwritable): the pilot takes no new job and does not exit until they are out" }),
    ),
    at: Timestamp,
    /**
     * HMAC under the pilot's token over its id (security/census-proof.ts): only the pilot the factory
     * started with that token can make it, and the factory applies no census without it to a pilot
     * it recorded a proof for. Optional on the wire for pilots of factories older than the proof.
     */
    proof: Type.Optional(Type.String({ minLength: 43, maxLength: 43, pattern: "^[A-Za-z0-9_-]+$" })),
  },
  { additionalProperties: false, $id: "PilotCensus" },
);
export type PilotCensus = Static<typeof PilotCensusSchema>;
export const PilotCensus = defineMessage("PilotCensus", PilotCensusSchema);
