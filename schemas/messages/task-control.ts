import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Id, Nonce, SignerCertChain, Timestamp } from "./common.ts";

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
export const SignedTaskControlSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    control: Type.String({ minLength: 2, maxLength: 4096, description: "TaskControl as JSON text, exactly as signed" }),
    signature: Type.String({ minLength: 16, maxLength: 4096, description: "base64 signature over `control`" }),
    certChain: SignerCertChain,
  },
  { additionalProperties: false, $id: "SignedTaskControl" },
);
export type SignedTaskControl = Static<typeof SignedTaskControlSchema>;
export const SignedTaskControl = defineMessage("SignedTaskControl", SignedTaskControlSchema);
