// Attacks on the pilot census. Every pilot (and a payload holding its pilot's NATS identity) may
// publish on the census subject, and pilot ids are not secret: every pilot can read the others'
// match replies on the shared pilot inbox, and those name the pilot. A census naming another
// pilot must not move the factory's view of it (an `exited` for a live pilot let the factory
// submit past maxRunning and count it empty; the real pilot's next census then came "late" and
// was ignored for good). Only the pilot started with a token can prove it: each census carries
// a proof derived from the token and the pilot id, which the factory recorded at submission.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { RunningFactory } from "../../pilot-factory/index.ts";
import { SCHEMA_VERSION, type PilotCensus } from "../../schemas/index.ts";
import { censusProof } from "../../security/index.ts";
import { openNatsAs, openRedisAs } from "../support/live-services.ts";
import { testConfig } from "../support/namespace.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { launchedToken, queueKnobs, startTestFactory, waitFor } from "../pilot-factory/factory-fixture.ts";

const loaded = testConfig("attackcensus");
const { names } = loaded;
let nc: NatsConnection;
let redis: RedisClient;
/** The attacker: a pilot's NATS identity, as every pilot and every unswitched payload holds. */
let attacker: NatsConnection;
let factory: RunningFactory;
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-attack-census-"));
const enc = new TextEncoder();
const frozenAt = Date.now();

beforeAll(async () => {
  nc = await openNatsAs(loaded, "factory", "attack-census-factory");
  redis = openRedisAs(loaded, "factory");
  attacker = await openNatsAs(loaded, "pilot", "attack-census-pilot");
  factory = await startTestFactory({ loaded, nc, redis, workDir }, "fac-forge", [queueKnobs({ name: "forge", maxRunning: 3 })], 3, {
    // The silent pilots' processes end at once: a clock that stands still keeps them from being reaped mid-test.
    clock: () => frozenAt,
  });
});

afterAll(async () => {
  await factory?.stop();
  await deleteNamespaceKeys(redis, names.namespace);
  await nc.close();
  await attacker.close();
  redis.disconnect();
  rmSync(workDir, { recursive: true, force: true });
});

/** Publishes a census as raw JSON, as anyone holding the pilot identity can. */
function send(pilotId: string, state: PilotCensus["state"], extra: Record<string, unknown> = {}): void {
  const msg = { schemaVersion: SCHEMA_VERSION, pilotId, site: "SITE_A", state, jobsDone: 0, emptyAdverts: 0, at: Date.now(), ...extra };
  attacker.publish(names.subjects.pilotCensus, enc.encode(JSON.stringify(msg)));
}

describe("a census forged for another pilot", () => {
  it("moves nothing: a forged exit (no proof, a proof from another token, another pilot's proof) leaves the pilot live, and its own census counts", async () => {
    const [cycle] = await factory.cycleOnce();
    expect(cycle.submitted).toHaveLength(3);
    const [a, b, c] = cycle.submitted;
    const proofOf = (id: string): string => censusProof(launchedToken(id), id);
    // What a reader of other pilots' replies can send: their ids, with no token behind them.
    for (const id of [a, b, c]) {
      send(id, "exited", { emptyAdverts: 3 });
      send(id, "exited", { emptyAdverts: 3, proof: censusProof("a-token-of-its-own-000000000000000000000000", id) });
    }
    // A pilot's own proof is bound to its id: it proves nothing for a neighbour.
    send(b, "exited", { emptyAdverts: 3, proof: proofOf(a) });
    send(c, "idle", { heldReports: 5, proof: proofOf(a) });
    // Then the pilots themselves (census of one pilot is applied in order: the forgeries came first).
    send(a, "running", { proof: proofOf(a) });
    send(b, "idle", { proof: proofOf(b) });
    send(c, "starting", { proof: proofOf(c) });
    const counts = await waitFor("the pilots' own census applied", async () => {
      const cn = await factory.census("forge");
      return cn.running === 1 && cn.idle === 2 ? cn : undefined;
    });
    expect(counts).toMatchObject({ submitted: 3, pending: 0, idle: 2, running: 1, exited: 0, emptyPilots: 0 });
    // Every forgery is counted, where `wms factory status` and the monitor read the queue's census.
    expect(counts.censusRefused).toBe(8);
    // The real exit, with its proof, still counts.
    send(a, "exited", { jobsDone: 1, proof: proofOf(a) });
    const after = await waitFor("the real exit counted", async () => {
      const cn = await factory.census("forge");
      return cn.exited === 1 ? cn : undefined;
    });
    expect(after).toMatchObject({ running: 0, idle: 2, exited: 1, emptyPilots: 0, censusRefused: 8 });
  });
});
