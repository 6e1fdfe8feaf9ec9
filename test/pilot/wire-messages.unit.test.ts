import { describe, expect, it } from "vitest";
import { EnvelopeBody, JobSpec, MatchEnvelope, MatchReply } from "../../schemas/index.ts";

describe("messages the pilot validates", () => {
  it("validates an envelope and a job spec after the replies that embed them were compiled", () => {
    // The pilot parses a MatchReply first, then verifyEnvelope parses the MatchEnvelope and the
    // EnvelopeBody (which embeds JobSpec): each must compile once, in any order.
    expect(MatchReply.problems({ schemaVersion: 1, status: "nomatch", backoffSec: 1, reason: "none" })).toBeUndefined();
    expect(EnvelopeBody.problems({})).toContain("missing field");
    expect(MatchEnvelope.problems({})).toContain("missing field");
    expect(JobSpec.problems({})).toContain("missing field");
  });
});
