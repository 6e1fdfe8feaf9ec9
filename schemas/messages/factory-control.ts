import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { ErrorReplySchema, Id, Nonce, signedTextFields, Timestamp } from "./common.ts";
import { FactoryQueueSchema } from "./factory-config.ts";

/**
 * `wms factory set` → the running factory on `names.subjects.factoryControl`: new values for some
 * knobs of one queue. The receiver merges them into the queue and validates the whole queue against
 * FactoryQueueSchema (the bounds live there, once), so only the shape is checked here.
 */
export const KnobChangesSchema = Type.Object(
  {
    targetIdle: Type.Optional(Type.Integer()),
    maxPending: Type.Optional(Type.Integer()),
    maxRunning: Type.Optional(Type.Integer()),
    maxPerCycle: Type.Optional(Type.Integer()),
    pilotsPerMinute: Type.Optional(Type.Number()),
    cycleSec: Type.Optional(Type.Number()),
    pilotLifetimeSec: Type.Optional(Type.Integer()),
    tokenUses: Type.Optional(Type.Integer()),
    emptyAdvertsLimit: Type.Optional(Type.Integer()),
    censusSec: Type.Optional(Type.Number()),
    queuedPerJob: Type.Optional(Type.Number()),
    breakerAfter: Type.Optional(Type.Integer()),
    breakerMaxSec: Type.Optional(Type.Number()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type KnobChanges = Static<typeof KnobChangesSchema>;

/**
 * The request itself, signed by an operator (a certificate with the `operator` role). The factory
 * refuses one past `expiresAt` or from the future, and each nonce once, so a captured request
 * cannot be replayed; the same signed text is what the factory keeps in Redis for its next start.
 */
export const FactoryControlSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    factoryId: Id,
    queue: Id,
    knobs: KnobChangesSchema,
    issuedAt: Timestamp,
    expiresAt: Timestamp,
    nonce: Nonce,
  },
  { additionalProperties: false, $id: "FactoryControl" },
);
export type FactoryControl = Static<typeof FactoryControlSchema>;
export const FactoryControl = defineMessage("FactoryControl", FactoryControlSchema);

/** On the wire (and persisted), signed like a task control request: the exact JSON text, its signature and the signer's chain. */
export const SignedFactoryControlSchema = Type.Object(signedTextFields("control", "FactoryControl", 4096), { additionalProperties: false, $id: "SignedFactoryControl" },
);
export type SignedFactoryControl = Static<typeof SignedFactoryControlSchema>;
export const SignedFactoryControl = defineMessage("SignedFactoryControl", SignedFactoryControlSchema);

/** Factory → operator: the queue's knobs after the change, or why nothing changed. */
export const FactoryControlReplySchema = Type.Union(
  [
    Type.Object({ schemaVersion: SchemaVersion, status: Type.Literal("ok"), factoryId: Id, queue: Id, knobs: FactoryQueueSchema }, { additionalProperties: false }),
    ErrorReplySchema,
  ],
  { $id: "FactoryControlReply" },
);
export type FactoryControlReply = Static<typeof FactoryControlReplySchema>;
export const FactoryControlReply = defineMessage("FactoryControlReply", FactoryControlReplySchema);
