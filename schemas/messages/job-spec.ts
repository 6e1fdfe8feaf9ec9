import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { ClassAdText, Dn, FileRef, Id, SiteName } from "./common.ts";

/** One job as brokered and queued: what the pilot needs to run it. */
export const JobSpecSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    jobId: Id,
    taskId: Id,
    taskName: Type.String({ minLength: 1, maxLength: 256 }),
    kind: Type.Union([Type.Literal("production"), Type.Literal("analysis")]),
    vo: Type.String({ minLength: 1, maxLength: 64 }),
    group: Type.String({ maxLength: 64 }),
    userDn: Dn,
    userCaDn: Type.Optional(Dn),
    userRoles: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32, description: "Roles from the submitter's signed VO attributes; site authorization checks them at match time" })),
    priority: Type.Integer({ minimum: -1000, maximum: 10000 }),
    site: SiteName,
    executable: Type.String({ minLength: 1, maxLength: 1024 }),
    arguments: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 256 }),
    environment: Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), Type.String({ maxLength: 8192 })),
    requirements: ClassAdText,
    rank: ClassAdText,
    cores: Type.Integer({ minimum: 1, maximum: 1024 }),
    memoryMb: Type.Integer({ minimum: 1, maximum: 4_194_304 }),
    walltimeSec: Type.Integer({ minimum: 1, maximum: 30 * 86400 }),
    inputFiles: Type.Array(FileRef, { maxItems: 10000 }),
    outputDataset: Type.String({ minLength: 1, maxLength: 256 }),
    attempt: Type.Integer({ minimum: 1 }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 100 }),
    seal: Type.Optional(
      Type.String({ maxLength: 256, description: "The intake's seal over what runs and as whom (security/job-spec-seal.ts); the matchmaker signs no envelope for a spec whose seal does not verify" }),
    ),
  },
  { additionalProperties: false, $id: "JobSpec" },
);
export type JobSpec = Static<typeof JobSpecSchema>;
export const JobSpec = defineMessage("JobSpec", JobSpecSchema);
