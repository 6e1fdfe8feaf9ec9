// The release policy of an open task (matchmaker/input-release.ts): which registered files of a
// running producer's output form jobs now, and when the consumer may close.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fileId, releaseFiles, type ReleasedInput } from "../../matchmaker/index.ts";
import type { DatasetFile } from "../../matchmaker/index.ts";

const file = (lfn: string, sites: string[] = ["CERN"]): DatasetFile => ({ lfn, size: 1, adler32: "00000001", md5: "0".repeat(32), sites });
const files = (n: number, sites?: string[], prefix = "f"): DatasetFile[] => Array.from({ length: n }, (_, i) => file(`${prefix}${String(i).padStart(3, "0")}`, sites));
const lfnsOf = (groups: ReturnType<typeof releaseFiles>["groups"]): string[][] => groups.map((g) => g.files.map((f) => f.lfn));

describe("releasing an open task's input files", () => {
  it("releases only full groups while the producer runs, and stays open", () => {
    const r = releaseFiles({ filesPerJob: 2, jobsLeft: Infinity, inputs: [{ dataset: "d", files: files(5), ended: false }], consumed: new Set() });
    expect(lfnsOf(r.groups)).toEqual([["f000", "f001"], ["f002", "f003"]]);
    expect(r).toMatchObject({ close: false, pending: 1 });
  });

  it("releases the last, partial group once the producer ended, and then closes", () => {
    const consumed = new Set(["f000", "f001", "f002", "f003"].map((l) => fileId("d", l)));
    const r = releaseFiles({ filesPerJob: 2, jobsLeft: Infinity, inputs: [{ dataset: "d", files: files(5), ended: true }], consumed });
    expect(lfnsOf(r.groups)).toEqual([["f004"]]);
    expect(r).toMatchObject({ close: true, pending: 0 });
  });

  it("closes with no job when the producer ended without a file", () => {
    expect(releaseFiles({ filesPerJob: 3, jobsLeft: Infinity, inputs: [{ dataset: "d", files: [], ended: true }], consumed: new Set() })).toEqual({ groups: [], close: true, pending: 0 });
  });

  it("never puts files held at different sites in one job", () => {
    const fs = [file("a1", ["CERN"]), file("a2", ["BNL"]), file("a3", ["CERN"]), file("a4", ["BNL"]), file("a5", ["CERN"])];
    const r = releaseFiles({ filesPerJob: 2, jobsLeft: Infinity, inputs: [{ dataset: "d", files: fs, ended: false }], consumed: new Set() });
    expect(lfnsOf(r.groups)).toEqual([["a1", "a3"], ["a2", "a4"]]);
    expect(r.pending).toBe(1);
  });

  it("keeps files with no replica back while their producer runs", () => {
    const fs = [file("a1", []), file("a2", [])];
    expect(releaseFiles({ filesPerJob: 1, jobsLeft: Infinity, inputs: [{ dataset: "d", files: fs, ended: false }], consumed: new Set() }).groups).toEqual([]);
    expect(releaseFiles({ filesPerJob: 1, jobsLeft: Infinity, inputs: [{ dataset: "d", files: fs, ended: true }], consumed: new Set() }).groups).toHaveLength(2);
  });

  it("stops at the job limit and closes there, leaving the rest pending", () => {
    const r = releaseFiles({ filesPerJob: 1, jobsLeft: 2, inputs: [{ dataset: "d", files: files(5), ended: false }], consumed: new Set() });
    expect(lfnsOf(r.groups)).toEqual([["f000"], ["f001"]]);
    expect(r).toMatchObject({ close: true, pending: 3 });
  });

  it("waits for every producer before it closes", () => {
    const r = releaseFiles({
      filesPerJob: 1,
      jobsLeft: Infinity,
      inputs: [
        { dataset: "a", files: files(1, ["CERN"], "a"), ended: true },
        { dataset: "b", files: files(1, ["CERN"], "b"), ended: false },
      ],
      consumed: new Set(),
    });
    expect(r.groups.map((g) => g.dataset)).toEqual(["a", "b"]);
    expect(r.close).toBe(false);
  });

  it("consumes every registered file exactly once, whatever order files appear in and however often it is asked", () => {
    const site = fc.constantFrom("CERN", "BNL", "RAL");
    const arb = fc.record({
      filesPerJob: fc.integer({ min: 1, max: 4 }),
      // Each file with the site it is written at; the producer registers them in this order.
      files: fc.uniqueArray(fc.record({ lfn: fc.stringMatching(/^[a-z]{1,6}$/), site }), { selector: (f) => f.lfn, maxLength: 40 }),
      // After how many files the planner looks (sorted, deduplicated below).
      looks: fc.array(fc.nat({ max: 40 }), { maxLength: 10 }),
    });
    fc.assert(
      fc.property(arb, ({ filesPerJob, files: produced, looks }) => {
        const consumed = new Set<string>();
        const jobs: string[][] = [];
        const look = (n: number, ended: boolean): boolean => {
          const input: ReleasedInput = { dataset: "d", files: produced.slice(0, n).map((f) => file(f.lfn, [f.site])), ended };
          const r = releaseFiles({ filesPerJob, jobsLeft: Infinity, inputs: [input], consumed });
          for (const g of r.groups) {
            // A job of files at one site, never more than asked, fewer only once the producer ended.
            expect(new Set(g.files.map((f) => f.sites.join())).size).toBe(1);
            expect(g.files.length).toBeLessThanOrEqual(filesPerJob);
            if (!ended) expect(g.files.length).toBe(filesPerJob);
            for (const f of g.files) {
              expect(consumed.has(fileId("d", f.lfn))).toBe(false);
              consumed.add(fileId("d", f.lfn));
            }
            jobs.push(g.files.map((f) => f.lfn));
          }
          return r.close;
        };
        for (const n of [...new Set(looks)].sort((a, b) => a - b)) expect(look(Math.min(n, produced.length), false)).toBe(false);
        expect(look(produced.length, true)).toBe(true);
        // Asked again after closing: nothing more.
        const again = releaseFiles({ filesPerJob, jobsLeft: Infinity, inputs: [{ dataset: "d", files: produced.map((f) => file(f.lfn, [f.site])), ended: true }], consumed });
        expect(again).toEqual({ groups: [], close: true, pending: 0 });
        expect(jobs.flat().sort()).toEqual(produced.map((f) => f.lfn).sort());
      }),
      { numRuns: 300 },
    );
  });
});
