import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFactoryStatus, startFactory, type PilotLaunch, type SubmitAdapter } from "../../pilot-factory/index.ts";
import { ERR, SCHEMA_VERSION } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { openLiveServices, openNatsAs, type LiveServices } from "../support/live-services.ts";
import { RecordingTokens, publishCensus, queueKnobs, rememberLaunch, testRuntime, waitFor } from "./factory-fixture.ts";

const loaded = testConfig("factorybreaker");
const { names } = loaded;
let nc: NatsConnection;
let redis: RedisClient;
let live: LiveServices;
/** The pilots' side: census messages come from pilots. */
let pilots: NatsConnection;
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-factory-breaker-"));

beforeAll(async () => {
  live = await openLiveServices(loaded, "factory-breaker-test", { as: "factory" });
  ({ nc, redis } = live);
  pilots = await openNatsAs(loaded, "pilot", "factory-breaker-test-pilots");
});

afterAll(async () => {
  await pilots?.close();
  await live.close();
  rmSync(workDir, { recursive: true, force: true });
});

/** A batch system that refuses every submission until fixed; then it accepts (the pilots are started by the test's census). */
class FlakyBatch implements SubmitAdapter {
  readonly kind = "condor" as const;
  broken = true;
  calls: number[] = [];
  unavailable(): undefined {
    return undefined;
  }
  async submit(pilots: readonly PilotLaunch[]): Promise<{ submitted: string[]; failed: Array<{ pilotId: string; message: string }>; files: string[] }> {
    this.calls.push(pilots.length);
    for (const p of pilots) rememberLaunch(p);
    if (this.broken) return { submitted: [], failed: pilots.map((p) => ({ pilotId: p.pilotId, message: "condor_submit: ERROR: Can't find address of local schedd" })), files: [] };
    return { submitted: pilots.map((p) => p.pilotId), failed: [], files: [] };
  }
}

describe("the circuit breaker in a running factory", () => {
  it("a batch system that always fails trips the breaker, which backs off exponentially, says why, and recovers when fixed", async () => {
    let now = Date.now();
    const batch = new FlakyBatch();
    const tokens = new RecordingTokens(redis, names);
    const q = queueKnobs({ name: "flaky", cycleSec: 10, maxPerCycle: 1, breakerAfter: 3, breakerMaxSec: 40 });
    const f = await startFactory({
      config: { schemaVersion: SCHEMA_VERSION, factoryId: "fac-breaker", queues: [q] },
      nc,
      redis,
      names,
      tokens,
      waitingJobs: async () => 50,
      runtime: testRuntime(loaded),
      workDir,
      adapterFor: () => batch,
      autoCycle: false,
      clock: () => now,
    });
    try {
      for (let i = 0; i < 3; i++) {
        if (i > 0) now += 10_000;
        const [r] = await f.cycleOnce();
        expect(r.error?.code).toBe(ERR.FACTORY_SUBMIT_FAILED);
      }
      let status = (await readFactoryStatus(redis, names, "fac-breaker")).queues[0];
      expect(status.breaker).toMatchObject({ state: "open", failures: 3, backoffSec: 10, reason: { code: ERR.FACTORY_SUBMIT_FAILED } });
      expect(status.breaker?.reason?.message).toContain("local schedd");

      // Open: nothing submitted, nothing minted, and the status says why with its own code.
      const minted = tokens.minted.length;
      const callsBefore = batch.calls.length;
      now += 1000;
      const [held] = await f.cycleOnce();
      expect(held.submitted).toHaveLength(0);
      expect(held.decision.reason).toBe("breaker-open");
      expect(batch.calls.length).toBe(callsBefore);
      expect(tokens.minted.length).toBe(minted);
      status = (await readFactoryStatus(redis, names, "fac-breaker")).queues[0];
      expect(status.lastError?.code).toBe(ERR.FACTORY_BREAKER_OPEN);
      expect(status.lastError?.message).toContain("local schedd");

      // Each failed trial doubles the wait, up to breakerMaxSec.
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        now = held.breaker.retryAtMs !== undefined && i === 0 ? held.breaker.retryAtMs : now;
        const [trial] = await f.cycleOnce();
        expect(batch.calls.at(-1)).toBe(1);
        waits.push(trial.breaker.backoffMs / 1000);
        now = trial.breaker.retryAtMs ?? now;
      }
      expect(waits).toEqual([20, 40, 40]);

      // Fixed: the next trial is accepted, then heard from; the breaker closes and the queue submits again.
      batch.broken = false;
      const [accepted] = await f.cycleOnce();
      expect(accepted.submitted).toHaveLength(1);
      expect(accepted.breaker.phase).toBe("half-open");
      publishCensus(pilots, names, accepted.submitted[0], "running");
      await waitFor("the trial pilot heard from", async () => (await f.census("flaky")).running === 1);
      now += 10_000;
      const [recovered] = await f.cycleOnce();
      expect(recovered.breaker.phase).toBe("closed");
      expect(recovered.submitted).toHaveLength(1);
      status = (await readFactoryStatus(redis, names, "fac-breaker")).queues[0];
      expect(status.breaker).toMatchObject({ state: "closed", failures: 0 });
      expect(status.lastError).toBeUndefined();
    } finally {
      await f.stop();
    }
  });
});
