// Attacks by a pilot with a token of its own (or a payload holding one) on whom its adverts name:
// claiming under another pilot's id would put that pilot's name on the job's record, its one-time
// key, heartbeat key and pool lease, and in the audit trail. The factory mints each token for one
// pilot id; the real matchmaker must refuse any other. And a flood of made-up tokens, one NATS
// message each, must not push the older events out of the capped audit stream. Each test fails if
// the attack works.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { AuditLog, pilotTokenKey, REFUSAL_AUDITS_PER_MINUTE, secretHash } from "../../security/index.ts";
import { createJobs } from "../matchmaker/fixtures.ts";
import { TestPilot } from "../matchmaker/pilot-client.ts";
import { startHarness, type Harness } from "../matchmaker/service-harness.ts";

const VICTIM_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Victoria Victim";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("attackadverts");
});

afterAll(async () => {
  await h?.close();
});

describe("an advert under another pilot's id", () => {
  it("is refused with E1727 before anything is claimed or spent, audited and counted; under its own id the same token claims", async () => {
    const site = "ATTACK_ID";
    const [spec] = await createJobs(h.store, { site, userDn: VICTIM_DN }, 1);
    await h.dispatch.enqueue([spec]);
    // Two pilots the factory started, each with the token it minted for that pilot.
    const mint = (pilotId: string): Promise<string> => h.tokens.mint({ site, factoryId: "f-attack", pilotId, uses: 50, ttlSec: 600 });
    const malloryToken = await mint("pilot-mallory");
    await mint("pilot-honest");
    const mallory = new TestPilot(h.nc, h.loaded.names, site, malloryToken, {}, "pilot-mallory");
    const posing = mallory.asPilot("pilot-honest");
    const usesLeft = async (): Promise<string | null> => h.redis.hget(pilotTokenKey(h.loaded.names, site, secretHash(malloryToken)), "usesLeft");
    const auditedBefore = (await new AuditLog(h.redis, h.loaded.names).recent(10_000)).filter((e) => e.event === "token-refused" && e.fields.code === String(ERR.SEC_TOKEN_WRONG_PILOT)).length;

    for (let i = 0; i < 3; i++) expect(await posing.advertise()).toMatchObject({ status: "error", code: ERR.SEC_TOKEN_WRONG_PILOT });
    expect(await h.store.getJob(spec.jobId)).toMatchObject({ state: "activated" });
    expect((await h.store.getJob(spec.jobId))?.pilotId).toBeUndefined();
    expect(await usesLeft()).toBe("50");
    await expect
      .poll(async () => (await new AuditLog(h.redis, h.loaded.names).recent(10_000)).filter((e) => e.event === "token-refused" && e.fields.code === String(ERR.SEC_TOKEN_WRONG_PILOT) && e.fields.pilotId === "pilot-honest").length - auditedBefore)
      .toBe(3);
    const metric = await h.mm?.registry.getSingleMetric("wms_matchmaker_token_refusals_total")?.get();
    expect(metric?.values.find((v) => v.labels.code === String(ERR.SEC_TOKEN_WRONG_PILOT))?.value).toBe(3);

    // Under the id it was minted for, the token claims the job, in that pilot's name.
    const body = mallory.open(await mallory.advertiseUntilMatched(), h.trust);
    expect(body.pilotId).toBe("pilot-mallory");
    expect(await h.store.getJob(spec.jobId)).toMatchObject({ state: "sent", pilotId: "pilot-mallory" });
  });

  it("a flood of made-up tokens is counted whole but writes at most a minute's budget of audit entries (the capped stream keeps its older events)", async () => {
    const refusedEntries = async (): Promise<number> => (await new AuditLog(h.redis, h.loaded.names).recent(10_000)).filter((e) => e.event === "token-refused" && e.fields.site === "ATTACK_FLOOD").length;
    const counted = async (): Promise<number> => (await h.mm?.registry.getSingleMetric("wms_matchmaker_token_refusals_total")?.get())?.values.find((v) => v.labels.code === String(ERR.MATCH_TOKEN_REJECTED))?.value ?? 0;
    const countedBefore = await counted();
    const FLOOD = 300;
    for (let i = 0; i < FLOOD; i += 50) {
      const wave = Array.from({ length: 50 }, (_, j) => new TestPilot(h.nc, h.loaded.names, "ATTACK_FLOOD", `made-up-token-${i + j}-${"x".repeat(20)}`));
      const replies = await Promise.all(wave.map((p) => p.advertise()));
      expect(replies.every((r) => r.status === "error" && r.code === ERR.MATCH_TOKEN_REJECTED)).toBe(true);
    }
    await expect.poll(counted).toBe(countedBefore + FLOOD);
    // At most one window's budget, or two should the flood straddle a minute; never one entry per advert.
    const written = await refusedEntries();
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(2 * REFUSAL_AUDITS_PER_MINUTE);
  });
});
