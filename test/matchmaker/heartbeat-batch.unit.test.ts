// The batched heartbeat's limits and the per-site subject helpers, with no server.
import { describe, expect, it } from "vitest";
import { HeartbeatBatch, MAX_JOBS_PER_HEARTBEAT, SCHEMA_VERSION, wireNames } from "../../schemas/index.ts";
import { subjectSiteOf } from "../../matchmaker/lease-heartbeats.ts";

const batchOf = (n: number): unknown => ({
  schemaVersion: SCHEMA_VERSION,
  pilotId: "p1",
  site: "S1",
  sentAt: 1,
  jobs: Array.from({ length: n }, (_, i) => ({ jobId: `j${i}`, attempt: 1, lockToken: "ac.0123456789.S1", state: "running", mac: `k1.${"A".repeat(43)}` })),
});

describe("HeartbeatBatch", () => {
  it(`takes ${MAX_JOBS_PER_HEARTBEAT} jobs and refuses ${MAX_JOBS_PER_HEARTBEAT + 1}`, () => {
    expect(HeartbeatBatch.problems(batchOf(MAX_JOBS_PER_HEARTBEAT))).toBeUndefined();
    expect(HeartbeatBatch.problems(batchOf(MAX_JOBS_PER_HEARTBEAT + 1))).toMatch(/jobs/);
    expect(HeartbeatBatch.problems(batchOf(0))).toMatch(/jobs/);
  });

  it("reads the site token of a per-site subject, and none from the base subject", () => {
    const names = wireNames("ns1");
    expect(subjectSiteOf(names.heartbeatFor("A.B"), names.subjects.heartbeat)).toBe("A~B");
    expect(subjectSiteOf(names.subjects.heartbeat, names.subjects.heartbeat)).toBeUndefined();
  });
});
