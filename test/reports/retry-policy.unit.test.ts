import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decideFailure, MAX_FREE_PREEMPTIONS } from "../../agents/job-state/index.ts";
import { decodeReport } from "../../agents/reports/index.ts";
import { ERR, ERROR_CODES, RETRY_RULES, retryRuleFor, type RetryRule } from "../../schemas/index.ts";
import { accountingReport, stateReport } from "./support/report-factory.ts";

describe("retry policy", () => {
  it("retries a retryable code while attempts are left", () => {
    expect(decideFailure({ code: ERR.STAGEIN_FAILED, attempt: 1, maxAttempts: 3 })).toEqual({ action: "retry", nextAttempt: 2 });
    expect(decideFailure({ code: ERR.PILOT_LOST_HEARTBEAT, attempt: 2, maxAttempts: 3 })).toEqual({ action: "retry", nextAttempt: 3 });
  });

  it("fails with RETRY_MAX_ATTEMPTS after the last attempt, naming the last code", () => {
    const d = decideFailure({ code: ERR.STAGEIN_FAILED, message: "timeout", attempt: 3, maxAttempts: 3 });
    expect(d).toMatchObject({ action: "fail", code: ERR.RETRY_MAX_ATTEMPTS });
    expect(d.action === "fail" && d.message).toBe("attempt 3 of 3 failed with E1200 STAGEIN_FAILED: timeout");
  });

  it("fails a non-retryable code at once with that code", () => {
    expect(decideFailure({ code: ERR.PAYLOAD_FAILED, message: "exit 2", attempt: 1, maxAttempts: 5 })).toEqual({ action: "fail", code: ERR.PAYLOAD_FAILED, message: "The payload exited with a non-zero code: exit 2" });
  });

  it("does not repeat the registry text a pilot's message already starts with", () => {
    const fromPilot = "The payload produced no output file: nothing in outputs/ of job T1.000001.1";
    expect(decideFailure({ code: ERR.STAGEOUT_NO_OUTPUT, message: fromPilot, attempt: 1, maxAttempts: 3 })).toEqual({ action: "fail", code: ERR.STAGEOUT_NO_OUTPUT, message: fromPilot });
  });

  it("fails a job whose owner has no credential at once with 2302, not after every attempt with 1903", () => {
    expect(decideFailure({ code: ERR.CREDENTIAL_NOT_STORED, message: "none for /CN=x", attempt: 1, maxAttempts: 3 })).toMatchObject({ action: "fail", code: ERR.CREDENTIAL_NOT_STORED });
  });

  it("follows the registry's retryable column for every code without a retry rule", () => {
    // PILOT_PREEMPTED has its own budget (below).
    const ruled = new Set([...RETRY_RULES.map((r) => r.code), ERR.PILOT_PREEMPTED]);
    fc.assert(
      fc.property(fc.constantFrom(...ERROR_CODES.filter((e) => !ruled.has(e.code))), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), (entry, attempt, maxAttempts) => {
        const d = decideFailure({ code: entry.code, attempt, maxAttempts });
        if (entry.retryable && attempt < maxAttempts) return d.action === "retry" && d.nextAttempt === attempt + 1;
        return d.action === "fail" && d.code === (entry.retryable ? ERR.RETRY_MAX_ATTEMPTS : entry.code);
      }),
    );
  });

  it("requeues a preempted attempt even on its last attempt, up to MAX_FREE_PREEMPTIONS", () => {
    expect(decideFailure({ code: ERR.PILOT_PREEMPTED, attempt: 3, maxAttempts: 3, preemptions: 0 })).toEqual({ action: "retry", nextAttempt: 4, preempted: true });
    expect(decideFailure({ code: ERR.PILOT_PREEMPTED, attempt: 3, maxAttempts: 3, preemptions: MAX_FREE_PREEMPTIONS - 1 })).toMatchObject({ action: "retry", preempted: true });
    // Past the free allowance a preemption counts like any failure.
    expect(decideFailure({ code: ERR.PILOT_PREEMPTED, attempt: 3, maxAttempts: 3, preemptions: MAX_FREE_PREEMPTIONS })).toMatchObject({ action: "fail", code: ERR.RETRY_MAX_ATTEMPTS });
  });
});

describe("retry rules", () => {
  it("asks for 1.5 times the memory after an out-of-memory kill, rounded up", () => {
    expect(decideFailure({ code: ERR.PAYLOAD_MEMORY_EXCEEDED, message: "rss 300 MB", attempt: 1, maxAttempts: 3, memoryMb: 1000 })).toEqual({ action: "retry", nextAttempt: 2, memoryMb: 1500 });
    expect(decideFailure({ code: ERR.PAYLOAD_MEMORY_EXCEEDED, attempt: 2, maxAttempts: 3, memoryMb: 1001 })).toEqual({ action: "retry", nextAttempt: 3, memoryMb: 1502 });
  });

  it("stops raising memory at the cap, and fails with the code once the job is there", () => {
    expect(decideFailure({ code: ERR.PAYLOAD_MEMORY_EXCEEDED, attempt: 1, maxAttempts: 3, memoryMb: 60_000 })).toEqual({ action: "retry", nextAttempt: 2, memoryMb: 65_536 });
    const d = decideFailure({ code: ERR.PAYLOAD_MEMORY_EXCEEDED, message: "rss 70000 MB", attempt: 2, maxAttempts: 3, memoryMb: 65_536 });
    expect(d).toMatchObject({ action: "fail", code: ERR.PAYLOAD_MEMORY_EXCEEDED });
    expect(d.action === "fail" && d.message).toContain("65536 MB cap");
  });

  it("still counts attempts for an out-of-memory job", () => {
    expect(decideFailure({ code: ERR.PAYLOAD_MEMORY_EXCEEDED, attempt: 3, maxAttempts: 3, memoryMb: 1000 })).toMatchObject({ action: "fail", code: ERR.RETRY_MAX_ATTEMPTS });
  });

  it("limit_retry ends a retryable code before the job's own maxAttempts", () => {
    expect(decideFailure({ code: ERR.STAGEIN_FILE_MISSING, attempt: 1, maxAttempts: 5 })).toEqual({ action: "retry", nextAttempt: 2 });
    const d = decideFailure({ code: ERR.STAGEIN_FILE_MISSING, message: "a.root", attempt: 2, maxAttempts: 5 });
    expect(d).toEqual({ action: "fail", code: ERR.RETRY_MAX_ATTEMPTS, message: "attempt 2 of 2 (its retry rule allows 2) failed with E1201 STAGEIN_FILE_MISSING: a.root" });
  });

  it("a diagnostic pattern picks the rule; the first match wins; other messages fall through to the registry", () => {
    const rules: RetryRule[] = [
      { code: ERR.PAYLOAD_FAILED, diagnostic: /Segmentation fault/, action: { kind: "limit_retry", attempts: 2 }, why: "t" },
      { code: ERR.STAGEIN_FAILED, diagnostic: /No space left/, action: { kind: "no_retry" }, why: "t" },
      { code: ERR.STAGEIN_FAILED, action: { kind: "limit_retry", attempts: 9 }, why: "t" },
    ];
    // A registry-final code retried because its diagnostic says a transient crash.
    expect(decideFailure({ code: ERR.PAYLOAD_FAILED, message: "exit 139: Segmentation fault", attempt: 1, maxAttempts: 3 }, rules)).toEqual({ action: "retry", nextAttempt: 2 });
    expect(decideFailure({ code: ERR.PAYLOAD_FAILED, message: "exit 2", attempt: 1, maxAttempts: 3 }, rules)).toMatchObject({ action: "fail", code: ERR.PAYLOAD_FAILED });
    // A registry-retryable code failed at once by its diagnostic.
    expect(decideFailure({ code: ERR.STAGEIN_FAILED, message: "write: No space left on device", attempt: 1, maxAttempts: 3 }, rules)).toMatchObject({ action: "fail", code: ERR.STAGEIN_FAILED });
    expect(retryRuleFor(ERR.STAGEIN_FAILED, "timeout", rules)?.action).toEqual({ kind: "limit_retry", attempts: 9 });
  });

  it("every rule names a registry code and a sane action", () => {
    for (const r of RETRY_RULES) {
      expect(ERROR_CODES.some((e) => e.code === r.code)).toBe(true);
      if (r.action.kind === "increase_memory") expect(r.action.factor).toBeGreaterThan(1);
      if (r.action.kind === "limit_retry") expect(r.action.attempts).toBeGreaterThanOrEqual(1);
    }
  });
});

describe("report decoding", () => {
  const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

  it("accepts a valid report of an accepted kind", () => {
    const r = accountingReport();
    expect(decodeReport(bytes(r), ["accounting"])).toEqual({ ok: true, report: r });
  });

  it("names the problem: bad JSON, a kind this queue does not carry, a schema violation", () => {
    expect(decodeReport(bytes("{"), ["accounting"])).toMatchObject({ ok: false, problem: expect.stringContaining("JSON") });
    expect(decodeReport(bytes(stateReport({ jobId: "j", state: "running" })), ["accounting"])).toMatchObject({ ok: false, problem: expect.stringContaining("/kind") });
    expect(decodeReport(bytes({ ...accountingReport(), wallSec: -1 }), ["accounting"])).toMatchObject({ ok: false, problem: expect.stringContaining("/wallSec") });
    expect(decodeReport(bytes({ ...accountingReport(), extra: 1 }), ["accounting"])).toMatchObject({ ok: false, problem: expect.stringContaining("extra") });
  });

  it("never throws, whatever the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const d = decodeReport(b, ["state", "error", "accounting", "audit"]);
        return d.ok === false;
      }),
    );
  });
});
