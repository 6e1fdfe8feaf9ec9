// The reconciler reads of a job record only the spec fields its ready set depends on
// (AUTOCLUSTER_SPEC_FIELDS, with its site); a field missing from that list would let it look for a
// job in the wrong ready set.
import { describe, expect, it } from "vitest";
import { AUTOCLUSTER_SPEC_FIELDS, autoclusterId, autoclusterKey } from "../../jobs/autocluster.ts";
import type { JobSpec } from "../../schemas/index.ts";
import { makeSpec } from "../matchmaker/fixtures.ts";

function changed(v: unknown): unknown {
  if (typeof v === "number") return v + 1;
  if (typeof v === "string") return `${v}x`;
  if (Array.isArray(v)) return [...(v as unknown[]), "x"];
  return { ...(v as object), x: "x" };
}

describe("autocluster fields", () => {
  it("lists exactly the spec fields a job's autocluster depends on", () => {
    const spec = makeSpec({ taskId: "T", site: "S", userCaDn: "/CN=CA", userRoles: ["prod"], requirements: "true", rank: "1" }, 0);
    const id = autoclusterId(autoclusterKey(spec));
    for (const k of Object.keys(spec) as Array<keyof JobSpec>) {
      const other = { ...spec, [k]: changed(spec[k]) } as JobSpec;
      expect(autoclusterId(autoclusterKey(other)) !== id, k).toBe((AUTOCLUSTER_SPEC_FIELDS as readonly string[]).includes(k));
    }
    for (const k of AUTOCLUSTER_SPEC_FIELDS) expect(Object.keys(spec)).toContain(k);
  });
});
