import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ERR, TaskBatch, isWmsError, type TaskBatch as TaskBatchT } from "../../schemas/index.ts";
import { planTask, rebrokerJob, SitePicker, splitIntoJobs, type SiteLoad } from "../../matchmaker/brokerage.ts";
import type { DatasetFile } from "../../matchmaker/replica-catalog.ts";

function batch(over: Partial<Omit<TaskBatchT, "jobTemplate">> & { jobTemplate?: Partial<TaskBatchT["jobTemplate"]> } = {}): TaskBatchT {
  const { jobTemplate, ...rest } = over;
  return TaskBatch.parse({
    schemaVersion: 1,
    taskName: "reco",
    vo: "atlas",
    inputDatasets: ["ds.a"],
    outputDataset: "out",
    ...rest,
    jobTemplate: { executable: "/bin/true", ...jobTemplate },
  });
}

function files(prefix: string, n: number, sitesOf: (i: number) => string[]): DatasetFile[] {
  return Array.from({ length: n }, (_, i) => ({ lfn: `${prefix}/f${String(i).padStart(4, "0")}`, size: i, adler32: "00000001", md5: "0".repeat(32), sites: sitesOf(i) }));
}

const site = (name: string, capacity = 100, online = true, load = 0): SiteLoad => ({ name, capacity, online, load });

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (isWmsError(e)) return e.code;
    throw e;
  }
  return undefined;
}

describe("brokerage", () => {
  it("splits a dataset into jobs of filesPerJob files in lfn order, with ids <taskId>.<6 digits>", () => {
    const plan = planTask({ taskId: "T7", batch: batch({ filesPerJob: 3 }), userDn: "/CN=Jane", datasets: new Map([["ds.a", files("a", 10, () => ["A"])]]), sites: [site("A")] });
    expect(plan.jobs.map((j) => j.spec.jobId)).toEqual(["T7.000000", "T7.000001", "T7.000002", "T7.000003"]);
    expect(plan.jobs.map((j) => j.spec.inputFiles.length)).toEqual([3, 3, 3, 1]);
    expect(plan.jobs[1].spec.inputFiles.map((f) => f.lfn)).toEqual(["a/f0003", "a/f0004", "a/f0005"]);
    expect(plan.jobs.every((j) => j.spec.userDn === "/CN=Jane" && j.spec.attempt === 1 && j.spec.inputFiles.every((f) => f.dataset === "ds.a"))).toBe(true);
  });

  it("never mixes datasets in one job and stops at maxJobs", () => {
    const datasets = new Map([
      ["ds.a", files("a", 3, () => ["A"])],
      ["ds.b", files("b", 3, () => ["B"])],
    ]);
    const groups = splitIntoJobs(batch({ inputDatasets: ["ds.a", "ds.b"], filesPerJob: 2 }), datasets);
    expect(groups.map((g) => [g.dataset, g.files.length])).toEqual([["ds.a", 2], ["ds.a", 1], ["ds.b", 2], ["ds.b", 1]]);
    expect(splitIntoJobs(batch({ inputDatasets: ["ds.a", "ds.b"], filesPerJob: 2, maxJobs: 3 }), datasets)).toHaveLength(3);
  });

  it("sends each job to a site holding all its input files", () => {
    // Files alternate between A+B and B+C: a job of two consecutive files can only run at B.
    const plan = planTask({ taskId: "T", batch: batch({ filesPerJob: 2 }), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 20, (i) => (i % 2 ? ["B", "C"] : ["A", "B"]))]]), sites: [site("A"), site("B"), site("C")] });
    expect(plan.jobs.every((j) => j.state === "activated" && j.spec.site === "B")).toBe(true);
    expect(plan.sites).toEqual({ B: 10 });
  });

  it("records a job whose data is nowhere as failed with 1600 and does not place it", () => {
    const plan = planTask({ taskId: "T", batch: batch(), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 4, (i) => (i === 2 ? [] : ["A"]))]]), sites: [site("A")] });
    expect(plan.jobs.map((j) => j.state)).toEqual(["activated", "activated", "failed", "activated"]);
    expect(plan.jobs[2]).toMatchObject({ errorCode: ERR.INTAKE_NO_REPLICA, errorMessage: expect.stringContaining("a/f0002") });
    expect(plan.queued).toBe(3);
    expect(plan.unbrokered).toBe(1);
  });

  it("fails a job whose files are split over sites with no single site holding them all", () => {
    const plan = planTask({ taskId: "T", batch: batch({ filesPerJob: 2 }), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 2, (i) => (i ? ["B"] : ["A"]))]]), sites: [site("A"), site("B")] });
    expect(plan.jobs[0]).toMatchObject({ state: "failed", errorCode: ERR.INTAKE_NO_REPLICA, errorMessage: expect.stringContaining("no single site") });
  });

  it("spreads jobs over eligible sites in proportion to capacity", () => {
    const plan = planTask({ taskId: "T", batch: batch(), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 400, () => ["A", "B", "C"])]]), sites: [site("A", 100), site("B", 300), site("C", 400)] });
    expect(plan.sites).toEqual({ A: 50, B: 150, C: 200 });
  });

  it("counts the jobs already at a site, so a busy site gets fewer", () => {
    const plan = planTask({ taskId: "T", batch: batch(), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 100, () => ["A", "B"])]]), sites: [site("A", 100, true, 60), site("B", 100, true, 0)] });
    expect(plan.sites).toEqual({ A: 20, B: 80 });
  });

  it("breaks ties by site name, so the same input gives the same plan", () => {
    const input = { taskId: "T", batch: batch(), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 3, () => ["B", "A"])]]), sites: [site("B"), site("A")] };
    expect(planTask(input).jobs.map((j) => j.spec.site)).toEqual(["A", "B", "A"]);
    expect(planTask(input)).toEqual(planTask(input));
  });

  it("skips offline sites and says so when only they hold the data", () => {
    const plan = planTask({ taskId: "T", batch: batch(), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 4, (i) => (i < 2 ? ["A", "B"] : ["A"]))]]), sites: [site("A", 100, false), site("B")] });
    expect(plan.jobs.map((j) => [j.state, j.spec.site])).toEqual([["activated", "B"], ["activated", "B"], ["failed", "none"], ["failed", "none"]]);
    expect(plan.jobs[2].errorMessage).toContain("offline site(s) A");
  });

  it("ignores replicas at sites the site config does not define", () => {
    const plan = planTask({ taskId: "T", batch: batch(), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 1, () => ["GHOST"])]]), sites: [site("A")] });
    expect(plan.jobs[0]).toMatchObject({ state: "failed", errorCode: ERR.INTAKE_NO_REPLICA });
  });

  it("refuses the whole batch when an input dataset is unknown", () => {
    expect(codeOf(() => planTask({ taskId: "T", batch: batch({ inputDatasets: ["ds.a", "ds.x"] }), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 1, () => ["A"])]]), sites: [site("A")] }))).toBe(ERR.INTAKE_UNKNOWN_DATASET);
  });

  it("refuses Requirements or Rank that do not parse, with where", () => {
    const datasets = new Map([["ds.a", files("a", 1, () => ["A"])]]);
    const bad = (jobTemplate: Partial<TaskBatchT["jobTemplate"]>) => () => planTask({ taskId: "T", batch: batch({ jobTemplate }), userDn: "/CN=x", datasets, sites: [site("A")] });
    expect(codeOf(bad({ requirements: "TARGET.Cores >= " }))).toBe(ERR.INTAKE_BAD_CLASSAD);
    expect(codeOf(bad({ rank: "TARGET.MemoryMb ** 2 (" }))).toBe(ERR.INTAKE_BAD_CLASSAD);
    expect(codeOf(bad({ requirements: "TARGET.Cores >= 2 && TARGET.MemoryMb > 1000", rank: "TARGET.MemoryMb" }))).toBeUndefined();
  });

  it("carries the template into every job spec", () => {
    const plan = planTask({
      taskId: "T",
      batch: batch({ priority: 42, group: "phys", kind: "analysis", maxAttempts: 5, jobTemplate: { arguments: ["-n", "3"], environment: { X: "1" }, requirements: "TARGET.Cores >= 2", cores: 2, memoryMb: 3000, walltimeSec: 600 } }),
      userDn: "/CN=x",
      datasets: new Map([["ds.a", files("a", 1, () => ["A"])]]),
      sites: [site("A")],
    });
    expect(plan.jobs[0].spec).toMatchObject({ priority: 42, group: "phys", kind: "analysis", maxAttempts: 5, arguments: ["-n", "3"], environment: { X: "1" }, requirements: "TARGET.Cores >= 2", rank: "", cores: 2, memoryMb: 3000, walltimeSec: 600, outputDataset: "out" });
  });

  it("re-brokers a failed job with attempt + 1 and keeps the attempt within maxAttempts", () => {
    const plan = planTask({ taskId: "T", batch: batch({ maxAttempts: 2 }), userDn: "/CN=x", datasets: new Map([["ds.a", files("a", 1, () => [])]]), sites: [site("A")] });
    const spec = plan.jobs[0].spec;
    const picker = new SitePicker([site("A"), site("B", 100, false)]);
    expect(rebrokerJob(spec, 1, new Map([["ds.a\na/f0000", ["B"]]]), picker)).toMatchObject({ problem: expect.stringContaining("offline") });
    const r = rebrokerJob(spec, 2, new Map([["ds.a\na/f0000", ["A", "B"]]]), picker);
    expect(r).toMatchObject({ spec: { site: "A", attempt: 3, maxAttempts: 3 } });
  });

  it("places only jobs whose every file is at their site, and that site online (any catalog)", () => {
    const names = ["A", "B", "C", "D"];
    fc.assert(
      fc.property(
        fc.array(fc.subarray(names), { minLength: 1, maxLength: 30 }),
        fc.array(fc.record({ capacity: fc.integer({ min: 1, max: 50 }), online: fc.boolean(), load: fc.nat(20) }), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (fileSites, siteProps, perJob) => {
          const ds = fileSites.map((s, i) => ({ lfn: `f${i}`, size: 1, adler32: "00000001", md5: "0".repeat(32), sites: s }));
          const sites = names.map((n, i) => ({ name: n, ...siteProps[i] }));
          const plan = planTask({ taskId: "T", batch: batch({ filesPerJob: perJob }), userDn: "/CN=x", datasets: new Map([["ds.a", ds]]), sites });
          const holders = new Map(ds.map((f) => [f.lfn, f.sites]));
          for (const j of plan.jobs) {
            const eligible = names.filter((n, i) => siteProps[i].online && j.spec.inputFiles.every((f) => holders.get(f.lfn)?.includes(n)));
            if (j.state === "activated") expect(eligible).toContain(j.spec.site);
            else expect(eligible).toEqual([]);
          }
          expect(plan.jobs).toHaveLength(Math.ceil(ds.length / perJob));
        },
      ),
    );
  });
});
