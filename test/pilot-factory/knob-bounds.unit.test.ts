import { describe, expect, it } from "vitest";
import { applyKnobChanges } from "../../pilot-factory/knob-changes.ts";
import { ERR, FactoryConfig, MAX_PILOTS_PER_MINUTE, SCHEMA_VERSION, WmsError, type FactoryQueue } from "../../schemas/index.ts";

const queue: FactoryQueue = {
  name: "q", site: "SITE_A", adapter: "local", targetIdle: 0, maxPending: 5, maxRunning: 5, maxPerCycle: 5,
  pilotsPerMinute: 60, cycleSec: 10, pilotLifetimeSec: 3600, tokenUses: 5, emptyAdvertsLimit: 3,
};

function refusal(f: () => unknown): WmsError {
  try {
    f();
  } catch (e) {
    return e as WmsError;
  }
  throw new Error("not refused");
}

describe("the factory's pilotsPerMinute bound", () => {
  it("takes the maximum rate live and refuses one pilot a minute more, naming the knob and the limit", () => {
    expect(applyKnobChanges(queue, { pilotsPerMinute: MAX_PILOTS_PER_MINUTE }).pilotsPerMinute).toBe(MAX_PILOTS_PER_MINUTE);
    const e = refusal(() => applyKnobChanges(queue, { pilotsPerMinute: MAX_PILOTS_PER_MINUTE + 1 }));
    expect(e).toBeInstanceOf(WmsError);
    expect(e.code).toBe(ERR.BAD_INPUT);
    expect(e.message).toContain("pilotsPerMinute");
    expect(e.message).toContain(String(MAX_PILOTS_PER_MINUTE));
    expect(e.message).not.toContain("\n");
  });

  it("refuses a factory file whose queue asks for more than the maximum rate", () => {
    const file = { schemaVersion: SCHEMA_VERSION, factoryId: "f", queues: [{ ...queue, pilotsPerMinute: 60_000 }] };
    expect(FactoryConfig.problems({ ...file, queues: [{ ...queue, pilotsPerMinute: MAX_PILOTS_PER_MINUTE }] })).toBeUndefined();
    expect(FactoryConfig.problems(file)).toMatch(new RegExp(`pilotsPerMinute.*${MAX_PILOTS_PER_MINUTE}`));
  });
});
