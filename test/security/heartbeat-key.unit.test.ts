// Heartbeat keys: what an attempt's key is bound to, what its MAC covers, and what a rotation of
// the matchmakers' key keeps valid. Also the budget that keeps a flood of refusals out of the audit stream.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HeartbeatBatch, SCHEMA_VERSION } from "../../schemas/index.ts";
import { AuditBudget, fixedSealKeys, heartbeatKeyFor, heartbeatMac, heartbeatMacHolds, newSealKey, type HeartbeatClaim } from "../../security/index.ts";

const current = newSealKey();
const previous = newSealKey();
const keys = fixedSealKeys(current, previous);
const claim: HeartbeatClaim = { pilotId: "pilot-1", site: "SITE_A", sentAt: 1_790_000_000_000, jobId: "T1.000001", attempt: 2, leaseToken: "ac1.0123456789abcdef.SITE_A", state: "running" };

describe("heartbeat keys", () => {
  it("accept a MAC made with the attempt's key, in the wire format", () => {
    const mac = heartbeatMac(heartbeatKeyFor(keys, claim), claim);
    const batch = { schemaVersion: SCHEMA_VERSION, pilotId: claim.pilotId, site: claim.site, sentAt: claim.sentAt, jobs: [{ jobId: claim.jobId, attempt: claim.attempt, lockToken: claim.leaseToken, state: claim.state, mac }] };
    expect(HeartbeatBatch.problems(batch)).toBeUndefined();
    expect(heartbeatMacHolds(keys, claim, mac)).toBe(true);
  });

  it("refuse the key of another job, attempt, lease token or pilot", () => {
    for (const other of [{ jobId: "T1.000002" }, { attempt: 1 }, { leaseToken: "ac1.fedcba9876543210.SITE_A" }, { pilotId: "pilot-2" }]) {
      // A pilot that holds a genuine key for another claim (its own job) MACs with it.
      const mac = heartbeatMac(heartbeatKeyFor(keys, { ...claim, ...other }), claim);
      expect(heartbeatMacHolds(keys, claim, mac)).toBe(false);
    }
  });

  it("refuse a MAC whose site, time or state was changed after it was made", () => {
    const mac = heartbeatMac(heartbeatKeyFor(keys, claim), claim);
    for (const changed of [{ site: "SITE_B" }, { sentAt: claim.sentAt + 1 }, { state: "holding" }]) {
      expect(heartbeatMacHolds(keys, { ...claim, ...changed }, mac)).toBe(false);
    }
  });

  it("refuse a MAC with no key, an unknown key id, a MAC made without the matchmakers' key, and a truncated one", () => {
    const mac = heartbeatMac(heartbeatKeyFor(keys, claim), claim);
    expect(heartbeatMacHolds(keys, claim, undefined)).toBe(false);
    expect(heartbeatMacHolds(keys, claim, `unknown${mac.slice(mac.indexOf("."))}`)).toBe(false);
    // Whoever guesses the derivation but lacks the seal key can only use a key of their own.
    const guessed = `${current.id}.${createHmac("sha256", "not-the-key").update(claim.jobId).digest("base64url")}`;
    expect(heartbeatMacHolds(keys, claim, heartbeatMac(guessed, claim))).toBe(false);
    expect(heartbeatMacHolds(keys, claim, mac.slice(0, -2))).toBe(false);
    expect(heartbeatMacHolds(keys, claim, mac.slice(mac.indexOf(".")))).toBe(false);
    // A genuine MAC with bytes appended is not the MAC made.
    for (const tail of ["A", "AAAA", "AAAAAAAA"]) expect(heartbeatMacHolds(keys, claim, `${mac}${tail}`)).toBe(false);
  });

  it("keep a key made before a rotation valid while its seal key is the previous one, not after the next", () => {
    const old = heartbeatMac(heartbeatKeyFor(fixedSealKeys(previous), claim), claim);
    expect(heartbeatMacHolds(keys, claim, old)).toBe(true);
    expect(heartbeatMacHolds(fixedSealKeys(newSealKey(), current), claim, old)).toBe(false);
  });
});

describe("the audit budget for refusals anyone can provoke", () => {
  it("writes at most N a window, then says how many it left out when it writes again", () => {
    let now = 0;
    const budget = new AuditBudget({ perWindow: 3, windowMs: 60_000, now: () => now });
    const taken = Array.from({ length: 1000 }, () => budget.take());
    expect(taken.filter((t) => t.write)).toHaveLength(3);
    now = 59_999;
    expect(budget.take().write).toBe(false);
    now = 60_000;
    expect(budget.take()).toEqual({ write: true, omitted: 998 });
    expect(budget.take()).toEqual({ write: true, omitted: 0 });
  });
});
