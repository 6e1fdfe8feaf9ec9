import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { CodedErrorFields, ErrorReplySchema, Id, SiteName, Timestamp } from "./common.ts";

/**
 * The pilot's MAC over one job of a heartbeat (pilot, site, sentAt, job, attempt, lease token,
 * state), made with the attempt's heartbeat key (security/heartbeat-key.ts): `<seal key id>.<HMAC>`.
 */
export const HeartbeatMac = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}\\.[A-Za-z0-9_-]{43}$" });

/**
 * Pilot → matchmaker from claim until the job's final report is out: renews the job's lease. It
 * names the attempt and the lease token it holds (a stale one is refused and the pilot told to
 * stop); `holding` says the payload has ended and its report is in flight. The single-job form of
 * pilots started before `HeartbeatBatch`; matchmakers answer it on the base heartbeat subject.
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
    mac: HeartbeatMac,
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

/**
 * Jobs one heartbeat may carry. A pilot runs at most one job per core it holds; 512 covers the
 * largest whole-node slots with room, and bounds what one message makes a matchmaker do.
 */
export const MAX_JOBS_PER_HEARTBEAT = 512;

/**
 * One job's lease in a pilot's heartbeat: the attempt and lease token it holds, where it is, and
 * the MAC that shows the sender holds the attempt's heartbeat key (a lease token alone is readable
 * by every pilot of the deployment).
 */
export const HeartbeatJobSchema = Type.Object(
  {
    jobId: Id,
    attempt: Type.Integer({ minimum: 1 }),
    lockToken: Type.String({ minLength: 8, maxLength: 128 }),
    state: Type.Union([Type.Literal("starting"), Type.Literal("running"), Type.Literal("holding")]),
    mac: HeartbeatMac,
  },
  { additionalProperties: false },
);
export type HeartbeatJob = Static<typeof HeartbeatJobSchema>;

/**
 * Pilot → matchmaker on its site's subject (`names.heartbeatFor(site)`): one message for every job
 * the pilot holds, so a many-core pilot costs one request per interval, not one per job. Replaces
 * the single-job `Heartbeat`, which matchmakers still answer on the base subject for pilots
 * started before the change.
 */
export const HeartbeatBatchSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    pilotId: Id,
    site: SiteName,
    jobs: Type.Array(HeartbeatJobSchema, { minItems: 1, maxItems: MAX_JOBS_PER_HEARTBEAT }),
    sentAt: Timestamp,
  },
  { additionalProperties: false, $id: "HeartbeatBatch" },
);
export type HeartbeatBatch = Static<typeof HeartbeatBatchSchema>;
export const HeartbeatBatch = defineMessage("HeartbeatBatch", HeartbeatBatchSchema);

/** One job's answer in a batch reply: the same three outcomes as a single heartbeat's reply. */
export const HeartbeatJobReplySchema = Type.Union([
  Type.Object({ jobId: Id, status: Type.Literal("ok"), lockedUntil: Timestamp }, { additionalProperties: false }),
  Type.Object({ jobId: Id, status: Type.Literal("cancelled"), reason: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
  Type.Object({ jobId: Id, ...CodedErrorFields }, { additionalProperties: false }),
]);
export type HeartbeatJobReply = Static<typeof HeartbeatJobReplySchema>;

/**
 * Matchmaker → pilot: one answer per job, in the order sent (`ok`, `cancelled`: kill the payload,
 * or an error: MATCH_LOCK_LOST / JOB_STALE_UPDATE, stop the job). A whole-message error (bad
 * input, a site that is not the subject's) renewed nothing.
 */
export const HeartbeatBatchReplySchema = Type.Union(
  [
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("ok"), jobs: Type.Array(HeartbeatJobReplySchema, { maxItems: MAX_JOBS_PER_HEARTBEAT }) }, { additionalProperties: false }),
    ErrorReplySchema,
  ],
  { $id: "HeartbeatBatchReply" },
);
export type HeartbeatBatchReply = Static<typeof HeartbeatBatchReplySchema>;
export const HeartbeatBatchReply = defineMessage("HeartbeatBatchReply", HeartbeatBatchReplySchema);
