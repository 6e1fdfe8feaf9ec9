// The pilot's one heartbeat for all its jobs, against the real NATS: a responder on the site's
// heartbeat subject plays the matchmaker's part, answering each job on its own.
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, HeartbeatBatch, SCHEMA_VERSION, type HeartbeatBatchReply, type HeartbeatJobReply, type WireNames } from "../../schemas/index.ts";
import { openNats } from "../../platform/connections.ts";
import { PilotHeartbeats } from "../../agents/pilot/job-heartbeat.ts";
import { heartbeatMac } from "../../security/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";

/** The responder plays the matchmaker; the heartbeats go out on the pilot's own connection. */
let nc: NatsConnection;
let pilotNc: NatsConnection;
let names: WireNames;
const enc = new TextEncoder();

beforeAll(async () => {
  const loaded = testConfig("pilothb");
  names = loaded.names;
  nc = await openNats(asRole(loaded, "matchmaker").config, "test-pilot-heartbeats");
  pilotNc = await openNats(asRole(loaded, "pilot").config, "test-pilot-heartbeats-pilot");
});

afterAll(async () => {
  await nc.close();
  await pilotNc.close();
});

/** Answers each job by `answer(jobId)`; records every batch it receives. */
function responder(site: string, answer: (jobId: string) => HeartbeatJobReply): HeartbeatBatch[] {
  const seen: HeartbeatBatch[] = [];
  nc.subscribe(names.heartbeatFor(site), {
    callback: (_e, m) => {
      const b = HeartbeatBatch.parseJson(m.data);
      seen.push(b);
      const reply: HeartbeatBatchReply = { schemaVersion: SCHEMA_VERSION, status: "ok", jobs: b.jobs.map((j) => answer(j.jobId)) };
      m.respond(enc.encode(JSON.stringify(reply)));
    },
  });
  return seen;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("the pilot's batched heartbeat", () => {
  it("sends one message per interval for all its jobs and delivers each job's answer to that job only", async () => {
    const site = "HB_PILOT_SITE";
    const seen = responder(site, (jobId) =>
      jobId === "job-b" ? { jobId, status: "cancelled", reason: "cancelled by its owner" } : jobId === "job-c" ? { jobId, status: "error", code: ERR.JOB_STALE_UPDATE, name: "JOB_STALE_UPDATE", message: "stale" } : { jobId, status: "ok", lockedUntil: Date.now() + 1000 },
    );
    await nc.flush();
    const hb = new PilotHeartbeats({ nc: pilotNc, names, pilotId: "pilot-hb-1", site, intervalMs: 200 });
    const events: string[] = [];
    const track = (jobId: string) => hb.track({ jobId, attempt: 1, lockToken: `ac.${jobId}.token.${site}`, heartbeatKey: `k1.${jobId}`, onCancel: () => events.push(`cancel ${jobId}`), onLockLost: () => events.push(`lost ${jobId}`) });
    const a = track("job-a");
    const b = track("job-b");
    const c = track("job-c");
    // Every beat after the three joined names all three, in one message.
    await expect.poll(() => seen.filter((x) => x.jobs.length === 3).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const full = seen.filter((x) => x.jobs.length === 3);
    expect(full[0].jobs.map((j) => j.jobId)).toEqual(["job-a", "job-b", "job-c"]);
    expect(full[0]).toMatchObject({ pilotId: "pilot-hb-1", site });
    // Each job's entry carries the MAC made with that job's own heartbeat key.
    for (const j of full[0].jobs) {
      expect(j.mac).toBe(heartbeatMac(`k1.${j.jobId}`, { pilotId: "pilot-hb-1", site, sentAt: full[0].sentAt, jobId: j.jobId, attempt: 1, leaseToken: j.lockToken, state: j.state }));
    }
    await expect.poll(() => events.includes("cancel job-b") && events.includes("lost job-c")).toBe(true);
    expect(events.some((e) => e.endsWith("job-a"))).toBe(false);
    // A holding job is acknowledged at once; a job that left is no longer named.
    a.setState("holding");
    expect(await a.holdingAcknowledged()).toBe(true);
    b.stop();
    c.stop();
    const before = seen.length;
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBeGreaterThan(before + 1);
    // The first beat after the stops may have left before them; every later one names job-a alone.
    expect(seen.slice(before + 1).every((x) => x.jobs.length === 1 && x.jobs[0].jobId === "job-a" && x.jobs[0].state === "holding")).toBe(true);
    // No job held: no heartbeat at all.
    a.stop();
    await sleep(300);
    const after = seen.length;
    await sleep(500);
    expect(seen.length).toBe(after);
  });
});
