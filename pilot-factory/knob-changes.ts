// Live tuning, pure: `key=value` words from the CLI become KnobChanges, and changes merged into a
// queue must leave a queue FactoryQueueSchema accepts (the bounds are defined there, once).
import { Type } from "@sinclair/typebox";
import { defineMessage, ERR, FactoryQueueSchema, KnobChangesSchema, WmsError, type FactoryQueue, type KnobChanges } from "../schemas/index.ts";

/** The knobs an operator may change while the factory runs; name, site and adapter need a restart. */
export const TUNABLE_KNOBS = Object.keys(KnobChangesSchema.properties) as ReadonlyArray<keyof KnobChanges>;

const KnobChangesMessage = defineMessage("KnobChanges", KnobChangesSchema);
const FactoryQueueMessage = defineMessage("FactoryQueue", FactoryQueueSchema);
/** Each tunable knob with its bounds, taken from the queue's schema (where they are defined, once). */
const KnobBoundsMessage = defineMessage("KnobBounds", Type.Partial(Type.Pick(FactoryQueueSchema, [...TUNABLE_KNOBS])));

/** `["pilotsPerMinute=30", "maxPending=4"]` → `{ pilotsPerMinute: 30, maxPending: 4 }`, or E1008 naming the bad word. */
// The words come from the command line (`wms factory set Q k=v ...`): a malformed one, or a value
// no queue may have (a negative count, a rate over the maximum), is a usage error (exit 2, nothing
// sent), told before anything is looked up, whatever the factory's state. The factory checks the
// queue it gets whole again (applyKnobChanges), for whoever else sends it changes.
export function parseKnobAssignments(words: readonly string[]): KnobChanges {
  if (words.length === 0) throw new WmsError(ERR.USAGE, `give at least one key=value; keys: ${TUNABLE_KNOBS.join(", ")}`);
  const out: Record<string, number> = {};
  for (const word of words) {
    const eq = word.indexOf("=");
    const key = eq > 0 ? word.slice(0, eq) : "";
    const raw = eq > 0 ? word.slice(eq + 1) : "";
    if (!key || raw === "") throw new WmsError(ERR.USAGE, `'${word}' is not key=value`);
    if (!(TUNABLE_KNOBS as readonly string[]).includes(key)) throw new WmsError(ERR.USAGE, `'${key}' is not a tunable knob; use one of ${TUNABLE_KNOBS.join(", ")}`);
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new WmsError(ERR.USAGE, `${key}=${raw}: the value must be a number`);
    out[key] = value;
  }
  // A copy: the validator fills in the defaults of the knobs not given.
  const problems = KnobChangesMessage.problems(out) ?? KnobBoundsMessage.problems({ ...out });
  if (problems !== undefined) throw new WmsError(ERR.USAGE, problems);
  return out as KnobChanges;
}

/** The queue with the changes applied, validated whole; E1001 says which bound was broken. */
export function applyKnobChanges(queue: FactoryQueue, changes: KnobChanges): FactoryQueue {
  const merged = { ...queue, ...changes };
  const problems = FactoryQueueMessage.problems(merged);
  if (problems !== undefined) throw new WmsError(ERR.BAD_INPUT, `queue ${queue.name}: ${problems}`);
  return merged;
}

/** Validates changes read back from a wire or from Redis. */
export function parseKnobChanges(value: unknown): KnobChanges {
  return KnobChangesMessage.parse(value);
}
