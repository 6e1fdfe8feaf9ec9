import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Id, Nonce, signedTextFields, Timestamp } from "./common.ts";

/** What a task's owner (or a production manager) asks of a submitted task. */
export const TaskControlSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    action: Type.Union([Type.Literal("cancel"), Type.Literal("retry")]),
    taskId: Id,
    /** The intake refuses requests past `expiresAt` or from the future, and each nonce once, so a captured request cannot be replayed. */
    requestedAt: Timestamp,
    expiresAt: Timestamp,
    nonce: Nonce,
  },
  { additionalProperties: false, $id: "TaskControl" },
);
export type TaskControl = Static<typeof TaskControlSchema>;
export const TaskControl = defineMessage("TaskControl", TaskControlSchema);

/** The control request on the wire, signed like a task batch: the exact JSON text, its signature and the signer's chain. */
export const SignedTaskControlSchema = Type.Object(signedTextFields("control", "TaskControl", 4096), { additionalProperties: false, $id: "SignedTaskControl" },
);
export type SignedTaskControl = Static<typeof SignedTaskControlSchema>;
export const SignedTaskControl = defineMessage("SignedTaskControl", SignedTaskControlSchema);
