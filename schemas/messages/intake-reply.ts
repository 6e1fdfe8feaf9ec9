import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { ErrorReplySchema, Id } from "./common.ts";

/** Intake → submitter: the task id and how its jobs were brokered, or why nothing was accepted. */
export const SubmitReplySchema = Type.Union(
  [
    Type.Object(
      {
        schemaVersion: SchemaVersion,
        status: Type.Literal("ok"),
        taskId: Id,
        jobs: Type.Integer({ minimum: 0 }),
        queued: Type.Integer({ minimum: 0 }),
        /** Jobs recorded failed with INTAKE_NO_REPLICA: no online site holds all their inputs. */
        unbrokered: Type.Integer({ minimum: 0 }),
        sites: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: "Jobs queued per site" }),
        /**
         * The tasks whose output this one reads while they still run (`inputRelease: files`): the task
         * is open, and gets more jobs as their outputs are registered.
         */
        waitingFor: Type.Optional(Type.Array(Id, { maxItems: 100 })),
        /** What the submitter should know although the task was accepted (a credential check it asked only to warn about). */
        warnings: Type.Optional(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 16 })),
      },
      { additionalProperties: false },
    ),
    ErrorReplySchema,
  ],
  { $id: "SubmitReply" },
);
export type SubmitReply = Static<typeof SubmitReplySchema>;
export const SubmitReply = defineMessage("SubmitReply", SubmitReplySchema);
export type SubmitAccepted = Extract<SubmitReply, { status: "ok" }>;

/** Intake → requester of a cancel or retry: how many jobs it touched. */
export const ControlReplySchema = Type.Union(
  [
    Type.Object(
      {
        schemaVersion: SchemaVersion,
        status: Type.Literal("ok"),
        taskId: Id,
        action: Type.Union([Type.Literal("cancel"), Type.Literal("retry")]),
        /** cancel: jobs cancelled; retry: jobs queued again. */
        affected: Type.Integer({ minimum: 0 }),
        /** retry: failed jobs that could not be re-brokered (no online site holds all their inputs). */
        skipped: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    ErrorReplySchema,
  ],
  { $id: "ControlReply" },
);
export type ControlReply = Static<typeof ControlReplySchema>;
export const ControlReply = defineMessage("ControlReply", ControlReplySchema);
export type ControlDone = Extract<ControlReply, { status: "ok" }>;
