import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { ErrorReplySchema, Id, SiteName, Timestamp } from "./common.ts";

/**
 * Pilot → matchmaker from claim until the job's final report is out: renews the job's lease. It
 * names the attempt and the lease token it holds (a stale one is refused and the pilot told to
 * stop); `holding` says the payload has ended and its report is in flight.
 */
export const HeartbeatSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    pilotId: Id,
    jobId: Id,
    site: SiteName,
    attempt: Type.Integer({ minimum: 1 }),
    lockToken: Type.String({ minLength: 8, maxLength: 128 }),
    state: Type.Union([Type.Literal("starting"), Type.Literal("running"), Type.Literal("holding")]),
    sentAt: Timestamp,
  },
  { additionalProperties: false, $id: "Heartbeat" },
);
export type Heartbeat = Static<typeof HeartbeatSchema>;
export const Heartbeat = defineMessage("Heartbeat", HeartbeatSchema);

/**
 * Matchmaker → pilot: the lock was extended (`ok`), the job was cancelled while it ran (the pilot
 * kills the payload with PAYLOAD_CANCELLED), or an error with its code (MATCH_LOCK_LOST or
 * JOB_STALE_UPDATE: this pilot no longer holds the job; stop it and expect its reports refused).
 */
export const HeartbeatReplySchema = Type.Union(
  [
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("ok"), lockedUntil: Type.Optional(Timestamp) }, { additionalProperties: false }),
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("cancelled"), reason: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false }),
    ErrorReplySchema,
  ],
  { $id: "HeartbeatReply" },
);
export type HeartbeatReply = Static<typeof HeartbeatReplySchema>;
export const HeartbeatReply = defineMessage("HeartbeatReply", HeartbeatReplySchema);
