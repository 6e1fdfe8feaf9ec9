import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { ClassAdText, Id, ReportKey, SiteName, Timestamp } from "./common.ts";

/**
 * How long a pilot waits for the answer to its advert before it gives up and asks again. The
 * matchmaker answers no advert that waited longer than this on its side: the job it claimed would
 * reach nobody and stay leased until its lease ran out.
 */
export const ADVERT_ANSWER_WAIT_MS = 10_000;

/** Pilot → matchmaker: "here is my worker node, give me work". */
export const MachineAdvertSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    pilotId: Id,
    site: SiteName,
    token: Type.String({ minLength: 16, maxLength: 256, description: "Pilot token minted by the factory" }),
    classad: ClassAdText,
    publicKey: Type.String({ minLength: 64, maxLength: 4096, description: "Pilot's ephemeral public key (PEM); the one-time proxy key is encrypted to it" }),
    /**
     * The pilot's Ed25519 report key (SPKI DER, base64): the matchmaker binds it to each attempt it
     * hands this pilot, and the agents apply that attempt's reports only when signed by it.
     */
    reportKey: Type.Optional(ReportKey),
    sentAt: Timestamp,
    knownSigner: Type.Optional(
      Type.String({
        pattern: "^[0-9a-f]{64}$",
        description: "Id of a matchmaker signer certificate and delegation this pilot verified before; if still current, the envelope names it instead of carrying them (~2.9 KB)",
      }),
    ),
  },
  { additionalProperties: false, $id: "MachineAdvert" },
);
export type MachineAdvert = Static<typeof MachineAdvertSchema>;
export const MachineAdvert = defineMessage("MachineAdvert", MachineAdvertSchema);
