// Live knob changes: sent to the running factory as an operator-signed request on NATS (it applies
// them within one cycle and answers), and kept in Redis as those same signed requests, one per
// knob, so a restarted factory keeps them and verifies each again before it believes it.
import type { NatsConnection } from "nats";
import type { RedisClient } from "../platform/redis-client.ts";
import { ERR, FactoryControlReply, WmsError, type FactoryControl, type KnobChanges, type SignedFactoryControl, type WireNames } from "../schemas/index.ts";
import { factoryKeys } from "./factory-keys.ts";
import { parseKnobChanges } from "./knob-changes.ts";

const encoder = new TextEncoder();

/** The factory a request names, read before anything is verified: only to decide which factory answers it. */
export function controlTarget(body: unknown): string | undefined {
  if (body === null || typeof body !== "object") return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.factoryId === "string") return b.factoryId;
  if (typeof b.control !== "string") return undefined;
  try {
    const inner: unknown = JSON.parse(b.control);
    if (inner === null || typeof inner !== "object") return undefined;
    const id = (inner as Record<string, unknown>).factoryId;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The persisted request that set each of its knobs: the newest request per knob wins. */
export async function saveSignedControl(redis: RedisClient, names: WireNames, control: FactoryControl, signed: SignedFactoryControl): Promise<void> {
  const text = JSON.stringify(signed);
  const fields: Record<string, string> = {};
  for (const k of Object.keys(control.knobs)) fields[k] = text;
  await redis.hset(factoryKeys(names, control.factoryId).queue(control.queue).knobs, fields);
}

export interface PersistedKnobs {
  /** The verified changes, or undefined when there are none. */
  readonly changes: KnobChanges | undefined;
  /** Records that did not verify: the knob, the code and why. They change nothing. */
  readonly refused: ReadonlyArray<{ readonly knob: string; readonly code: number; readonly message: string }>;
}

/**
 * The changes persisted for a queue, each taken from its signed request only after `open` (the
 * deployment's verifier: chain, CRL, signature, operator role) accepted it and the request names
 * this factory, queue and knob.
 */
export async function loadKnobChanges(redis: RedisClient, names: WireNames, factoryId: string, queue: string, open: (signed: unknown) => { control: FactoryControl }): Promise<PersistedKnobs> {
  const h = await redis.hgetall(factoryKeys(names, factoryId).queue(queue).knobs);
  const raw: Record<string, number> = {};
  const refused: Array<{ knob: string; code: number; message: string }> = [];
  for (const [knob, text] of Object.entries(h)) {
    try {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new WmsError(ERR.SEC_NOT_OPERATOR, "the stored value is not a signed factory control request");
      }
      const { control } = open(body);
      const value = (control.knobs as Record<string, number | undefined>)[knob];
      if (control.factoryId !== factoryId || control.queue !== queue || value === undefined) {
        throw new WmsError(ERR.SEC_BAD_SIGNATURE, `the request stored for ${knob} was signed for factory ${control.factoryId} queue ${control.queue} (${Object.keys(control.knobs).join(", ")})`);
      }
      raw[knob] = value;
    } catch (e) {
      const err = e as { code?: number; message?: string };
      refused.push({ knob, code: typeof err.code === "number" ? err.code : ERR.INTERNAL, message: err.message ?? String(e) });
    }
  }
  return { changes: Object.keys(raw).length === 0 ? undefined : parseKnobChanges(raw), refused };
}

/**
 * Asks the running factory to apply a signed request: its reply (the queue's knobs, or its coded
 * refusal), or undefined when no factory of the namespace answered within `timeoutMs` (none is
 * running, or only others: every factory hears the subject and only the one named answers).
 */
export async function requestKnobChanges(nc: NatsConnection, names: WireNames, signed: SignedFactoryControl, timeoutMs = 5000): Promise<FactoryControlReply | undefined> {
  try {
    const m = await nc.request(names.subjects.factoryControl, encoder.encode(JSON.stringify(signed)), { timeout: timeoutMs });
    return FactoryControlReply.parseJson(m.data);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "503" || code === "TIMEOUT") return undefined;
    throw e;
  }
}
