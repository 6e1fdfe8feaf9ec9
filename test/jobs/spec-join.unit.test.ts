// A claim rebuilds a job's spec from its task's template and the record's own fields: the spec must
// be the one `{...template, ...own}` gives, field order included (it is written into the envelope).
import { describe, expect, it } from "vitest";
import { joinSpec, SpecShape, type SpecFields } from "../../jobs/spec-join.ts";

const template: SpecFields = { schemaVersion: 1, taskId: "t1", arguments: ["--events", "10"], environment: { A: "1" }, cores: 1, outputDataset: "out" };
const own = (i: number): SpecFields => ({ jobId: `t1.${i}`, inputFiles: [{ lfn: `f${i}`, dataset: "ds", size: i, adler32: "0a1b2c3d", md5: "0123456789abcdef0123456789abcdef" }], site: "S1", seal: `k.${i}` });
const viaText = (o: SpecFields): string => JSON.stringify(joinSpec(JSON.stringify(template), JSON.stringify(o)));

describe("a claimed spec from its task's template", () => {
  it("is the template and the record's own fields in the order one JSON text gives, for every job of the task", () => {
    const shape = new SpecShape(template, own(0));
    for (const i of [0, 1, 2]) expect(JSON.stringify(shape.join(own(i)))).toBe(viaText(own(i)));
  });

  it("keeps the template's place and takes the record's value for a field both hold", () => {
    const shape = new SpecShape(template, own(0));
    const o = { ...own(1), cores: 8 };
    expect(JSON.stringify(shape.join(o))).toBe(viaText(o));
  });

  it("is left to the text join when a record's own fields differ from the first one's (missing, added or reordered)", () => {
    const shape = new SpecShape(template, own(0));
    const { seal: _seal, ...missing } = own(1);
    const { jobId, ...rest } = own(2);
    for (const o of [missing, { ...own(3), extra: 1 }, { ...rest, jobId }] as SpecFields[]) expect(shape.join(o)).toBeUndefined();
  });

  it("gives each claim its own top-level fields and template values nobody can change in place", () => {
    const shape = new SpecShape(template, own(0));
    const a = shape.join(own(1)) as unknown as Record<string, unknown> & { arguments: string[]; environment: Record<string, string> };
    const b = shape.join(own(2)) as unknown as Record<string, unknown>;
    a.attempt = 2;
    expect(b.attempt).toBeUndefined();
    expect(() => a.arguments.push("x")).toThrow();
    expect(() => {
      a.environment.A = "2";
    }).toThrow();
    // The caller's template is not the one frozen.
    expect(Object.isFrozen(template.arguments)).toBe(false);
  });
});
