import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Id, SiteName, Timestamp } from "./common.ts";

/** Pilot → matchmaker while a payload runs: extends the job's lock. */
export const HeartbeatSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    pilotId: Id,
    jobId: Id,
    site: SiteName,
    lockToken: Type.String({ minLength: 8, maxLength: 128 }),
    state: Type.Union([Type.Literal("starting"), Type.Literal("running"), Type.Literal("stageout")]),
    sentAt: Timestamp,
  },
  { additionalProperties: false, $id: "Heartbeat" },
);
export type Heartbeat = Static<typeof HeartbeatSchema>;
export const Heartbeat = defineMessage("Heartbeat", HeartbeatSchema);
