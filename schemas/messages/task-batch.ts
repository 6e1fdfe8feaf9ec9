import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { ClassAdText, Nonce, signedTextFields, Timestamp } from "./common.ts";

/** What a production manager (or an analysis user) writes: one task, split into jobs by the intake. */
export const TaskBatchSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    taskName: Type.String({ minLength: 1, maxLength: 256, pattern: "^[A-Za-z0-9._:-]+$" }),
    kind: Type.Union([Type.Literal("production"), Type.Literal("analysis")], { default: "production" }),
    vo: Type.String({ minLength: 1, maxLength: 64 }),
    group: Type.String({ maxLength: 64, default: "" }),
    priority: Type.Integer({ minimum: -1000, maximum: 10000, default: 0 }),
    /**
     * What the intake does when the owner has no delegated credential that outlives a job's
     * walltime: refuse the task (default), or accept it with a warning (`wms task submit --no-proxy-check`).
     */
    proxyCheck: Type.Optional(Type.Union([Type.Literal("refuse"), Type.Literal("warn")])),
    /**
     * A task name is unique per owner (a second submission of the same file is usually a mistake that
     * would run the work twice); `wms task submit --allow-duplicate` sets this to accept it anyway.
     */
    allowDuplicate: Type.Optional(Type.Boolean()),
    jobTemplate: Type.Object(
      {
        executable: Type.String({ minLength: 1, maxLength: 1024 }),
        arguments: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 256, default: [] }),
        environment: Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), Type.String({ maxLength: 8192 }), { default: {} }),
        requirements: Type.Optional(ClassAdText),
        rank: Type.Optional(ClassAdText),
        cores: Type.Integer({ minimum: 1, maximum: 1024, default: 1 }),
        memoryMb: Type.Integer({ minimum: 1, maximum: 4_194_304, default: 2000 }),
        walltimeSec: Type.Integer({ minimum: 1, maximum: 30 * 86400, default: 3600 }),
      },
      { additionalProperties: false },
    ),
    inputDatasets: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 100 }),
    filesPerJob: Type.Integer({ minimum: 1, maximum: 10000, default: 1 }),
    /**
     * An input dataset that another task is still writing: `files` (default) accepts the task at once
     * and plans its jobs as the producer's outputs are registered, `filesPerJob` at a time (JEDI's
     * incremental job generation); `done` refuses it (E1608) until the producer is done.
     */
    inputRelease: Type.Optional(Type.Union([Type.Literal("files"), Type.Literal("done")])),
    maxJobs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: "Stop after this many jobs" })),
    outputDataset: Type.String({ minLength: 1, maxLength: 256 }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
    /**
     * Stamped by `signTaskBatch`, not written by hand: the intake refuses a batch without them, past
     * `expiresAt`, or with a nonce it has seen, so a captured batch cannot be submitted again.
     */
    issuedAt: Type.Optional(Timestamp),
    expiresAt: Type.Optional(Timestamp),
    nonce: Type.Optional(Nonce),
  },
  { additionalProperties: false, $id: "TaskBatch" },
);
export type TaskBatch = Static<typeof TaskBatchSchema>;
export const TaskBatch = defineMessage("TaskBatch", TaskBatchSchema);

/** The batch on the wire: the exact JSON text that was signed, its signature and the signer's chain. */
export const SignedTaskBatchSchema = Type.Object(signedTextFields("batch", "TaskBatch", 4_000_000), { additionalProperties: false, $id: "SignedTaskBatch" },
);
export type SignedTaskBatch = Static<typeof SignedTaskBatchSchema>;
export const SignedTaskBatch = defineMessage("SignedTaskBatch", SignedTaskBatchSchema);
