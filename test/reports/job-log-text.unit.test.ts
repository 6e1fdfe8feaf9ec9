import { describe, expect, it } from "vitest";
import { formatJobLog } from "../../agents/job-logs/index.ts";
import type { LogReport } from "../../schemas/index.ts";

const report = (attempt: number): LogReport => ({
  schemaVersion: 1, kind: "log", reportId: `r${attempt}`, jobId: "T4.000000", taskId: "T4", attempt, pilotId: "SITE_A-local.p1", site: "SITE_A",
  errorCode: 1400, stdout: "about to fail\n", stderr: "boom\n", pilotLog: "", truncated: { stdout: false, stderr: false, pilotLog: false }, at: Date.UTC(2026, 0, 1),
});

describe("wms job log's text", () => {
  it("heads one attempt's logs with that attempt alone, not 'attempt 1 of 1'", () => {
    const head = formatJobLog(report(1), [1]).split("\n")[0];
    expect(head).toBe("job T4.000000 (task T4) attempt 1 at SITE_A by pilot SITE_A-local.p1: E1400 PAYLOAD_FAILED, 2026-01-01T00:00:00.000Z");
  });

  it("names the other attempts whose logs are kept", () => {
    expect(formatJobLog(report(2), [1, 2]).split("\n")[0]).toMatch(/attempt 2 at SITE_A .*\(logs also kept for attempt 1\)$/);
    expect(formatJobLog(report(3), [1, 2, 3]).split("\n")[0]).toMatch(/\(logs also kept for attempts 1, 2\)$/);
  });

  it("shows the payload's stderr, then its stdout, then the pilot's log, an empty one as (empty)", () => {
    expect(formatJobLog(report(1), [1]).split("\n").slice(1)).toEqual(["--- payload stderr ---", "boom", "--- payload stdout ---", "about to fail", "--- pilot log ---", "(empty)", ""]);
  });

  it("shows a report whose time no Date holds (its pilot's to send) by its number, not a RangeError", () => {
    expect(formatJobLog({ ...report(1), at: 8.64e15 + 1 }, [1]).split("\n")[0]).toMatch(/: E1400 PAYLOAD_FAILED, 8640000000000001 ms after 1970$/);
  });
});
