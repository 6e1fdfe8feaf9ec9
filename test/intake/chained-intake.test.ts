// The intake's side of chained tasks and task names: one name per owner unless the batch allows a
// duplicate; a dataset another task writes is taken file by file as that task registers its outputs
// (an open task, planned by the intake's open-task planner), or with `inputRelease: done` only once
// that task is done. The planners are driven by hand here (the intake's own loop is off), so each
// step is seen; test/e2e/chained-pilots.test.ts runs the same with real pilots.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { openTaskProgress } from "../../matchmaker/index.ts";
import { lfns, siteConfig, startIntakeHarness, type IntakeHarness } from "./support/intake-harness.ts";

let h: IntakeHarness;

beforeAll(async () => {
  h = await startIntakeHarness("chained", { openTaskPollMs: 0 });
  await h.sites.publish(siteConfig([{ name: "CERN", capacity: 100 }, { name: "BNL", capacity: 100 }]));
  await h.catalog.addFiles("ds.a", lfns("a", 4), ["CERN"]);
});

afterAll(async () => {
  await h?.close();
});

const batch = (over: Parameters<IntakeHarness["batch"]>[0]): ReturnType<IntakeHarness["batch"]> => h.batch({ kind: "analysis", ...over });

async function refusal(p: Promise<unknown>): Promise<{ code?: number; message?: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: number; message?: string };
  }
  return {};
}

describe("task names", () => {
  it("refuses a second task of the same name from the same owner with E1607, naming the first, and records nothing", async () => {
    const first = await h.client.submit(h.sign(batch({ taskName: "dup.name" }), h.people.alice));
    const before = await h.jobs.listTasks({ limit: 1000 });
    const e = await refusal(h.client.submit(h.sign(batch({ taskName: "dup.name" }), h.people.alice)));
    expect(e.code).toBe(ERR.INTAKE_DUPLICATE_TASK);
    expect(e.message).toContain(first.taskId);
    expect(e.message).toContain("--allow-duplicate");
    expect((await h.jobs.listTasks({ limit: 1000 })).map((t) => t.taskId)).toEqual(before.map((t) => t.taskId));
    // Nor used a task id: the next task is numbered right after the first (an operator found "no
    // task T3" between T2 and T4 after a refused duplicate).
    const next = await h.client.submit(h.sign(batch({ taskName: "dup.name.next" }), h.people.alice));
    expect(next.taskId).toBe(`T${Number(first.taskId.slice(1)) + 1}`);
  });

  it("accepts the same name from another owner, and from the same owner when the batch allows a duplicate", async () => {
    await h.client.submit(h.sign(batch({ taskName: "shared.name" }), h.people.alice));
    const other = await h.client.submit(h.sign(batch({ taskName: "shared.name" }), h.people.prod));
    expect(other.status).toBe("ok");
    const again = await h.client.submit(h.sign(batch({ taskName: "shared.name", allowDuplicate: true }), h.people.alice));
    expect(again.status).toBe("ok");
    // The newest task now holds the name: a later plain submission names it.
    const e = await refusal(h.client.submit(h.sign(batch({ taskName: "shared.name" }), h.people.alice)));
    expect(e.code).toBe(ERR.INTAKE_DUPLICATE_TASK);
    expect(e.message).toContain(again.taskId);
  });
});

describe("another task's output dataset as input", () => {
  it("with inputRelease: done, refuses it with E1608 while the producing task runs, and still E1601 for a dataset nobody registered or produces", async () => {
    const producer = await h.client.submit(h.sign(batch({ outputDataset: "chain.mid" }), h.people.alice));
    const e = await refusal(h.client.submit(h.sign(batch({ inputDatasets: ["chain.mid"], inputRelease: "done" }), h.people.alice)));
    expect(e.code).toBe(ERR.INTAKE_DATASET_NOT_READY);
    expect(e.message).toContain(producer.taskId);
    expect(e.message).toContain("active");
    expect((await refusal(h.client.submit(h.sign(batch({ inputDatasets: ["chain.nobody"] }), h.people.alice)))).code).toBe(ERR.INTAKE_UNKNOWN_DATASET);
  });

  it("takes it once every job of the producing task finished, brokering to the site holding the registered outputs", async () => {
    const producer = await h.client.submit(h.sign(batch({ outputDataset: "chain.done" }), h.people.alice));
    for (const j of await h.jobs.listJobs(producer.taskId)) {
      for (const [to, from] of [["sent", "activated"], ["running", "sent"], ["finished", "running"]] as const) await h.jobs.transition(j.jobId, to, [from], {}, Date.now(), producer.taskId);
    }
    expect((await h.jobs.getTask(producer.taskId))?.status).toBe("done");
    await h.catalog.addFiles("chain.done", lfns("out", 2), ["BNL"]);
    const consumer = await h.client.submit(h.sign(batch({ inputDatasets: ["chain.done"], filesPerJob: 1 }), h.people.alice));
    expect(consumer).toMatchObject({ status: "ok", jobs: 2, queued: 2, sites: { BNL: 2 } });
    expect(consumer.waitingFor).toBeUndefined();
    expect((await h.jobs.getTask(consumer.taskId))?.open).toBeUndefined();
  });

  it("refuses a schema-invalid inputRelease with the batch's schema error, recording nothing", async () => {
    expect(() => batch({ inputRelease: "sometimes" })).toThrow(/inputRelease/);
  });
});

/** Moves a job to finished as its pilot and the job-state agent would, registering its outputs first. */
async function finish(jobId: string, outputs: { dataset: string; lfn: string; site: string }[] = []): Promise<void> {
  for (const o of outputs) await h.catalog.addFiles(o.dataset, lfns(o.lfn, 1), [o.site]);
  for (const [to, from] of [["sent", "activated"], ["running", "sent"], ["finished", "running"]] as const) await h.jobs.transition(jobId, to, [from]);
}

async function fail(jobId: string): Promise<void> {
  await h.jobs.transition(jobId, "failed", ["activated"], { errorCode: ERR.INTERNAL, errorMessage: "test" });
}

/** Every input file of a task's jobs, `dataset lfn`, in job order. */
async function inputsOf(taskId: string): Promise<string[]> {
  return (await h.jobs.listJobs(taskId)).flatMap((j) => j.spec.inputFiles.map((f) => `${f.dataset} ${f.lfn}`));
}

describe("an open task: another task's output taken file by file (inputRelease: files, the default)", () => {
  it("is accepted while its producer runs, gets a job per filesPerJob outputs, stays active while open, and closes with the last partial job when the producer ends", async () => {
    const producer = await h.client.submit(h.sign(batch({ outputDataset: "open.mid" }), h.people.alice));
    const pjobs = await h.jobs.jobIds(producer.taskId);
    expect(pjobs).toHaveLength(4);
    const consumer = await h.client.submit(h.sign(batch({ inputDatasets: ["open.mid"], filesPerJob: 2 }), h.people.alice));
    expect(consumer).toMatchObject({ status: "ok", jobs: 0, queued: 0, waitingFor: [producer.taskId] });
    expect(await h.jobs.getTask(consumer.taskId)).toMatchObject({ status: "active", open: true, njobs: 0 });
    const planner = h.planner();
    const id = consumer.taskId;

    await finish(pjobs[0], [{ dataset: "open.mid", lfn: "p0", site: "BNL" }]);
    expect((await planner.runOnce()).get(id)).toBe("idle");
    await finish(pjobs[1], [{ dataset: "open.mid", lfn: "p1", site: "BNL" }]);
    expect((await planner.runOnce()).get(id)).toBe("grown");
    const first = await h.jobs.listJobs(id);
    expect(first.map((j) => [j.jobId, j.state, j.site, j.spec.inputFiles.map((f) => f.lfn)])).toEqual([[`${id}.000000`, "activated", "BNL", ["p0/f00000", "p1/f00000"]]]);
    expect(first[0].spec.seal).toBeTruthy();
    expect(await h.dispatch.waitingCount("BNL")).toBeGreaterThan(0);
    expect(await openTaskProgress(h, id, (await h.jobs.taskPlan(id)) as string)).toMatchObject({ waitingFor: [{ producer: producer.taskId, status: "active" }], consumed: 2, pending: 0 });

    // Its only job finished, but the producer may still write: the consumer is not done.
    await finish(first[0].jobId);
    expect(await h.jobs.getTask(id)).toMatchObject({ status: "active", open: true, njobs: 1 });

    await finish(pjobs[2], [{ dataset: "open.mid", lfn: "p2", site: "BNL" }]);
    expect((await planner.runOnce()).get(id)).toBe("idle");
    expect(await openTaskProgress(h, id, (await h.jobs.taskPlan(id)) as string)).toMatchObject({ consumed: 2, pending: 1 });
    // The producer ends partial (its last job failed, no output): the remainder is planned, the consumer closes.
    await fail(pjobs[3]);
    expect((await h.jobs.getTask(producer.taskId))?.status).toBe("partial");
    expect((await planner.runOnce()).get(id)).toBe("closed");
    const closed = await h.jobs.getTask(id);
    expect(closed).toMatchObject({ status: "active", open: false, njobs: 2 });
    expect(closed?.message).toContain(`${producer.taskId} ended partial`);
    expect(await inputsOf(id)).toEqual(["open.mid p0/f00000", "open.mid p1/f00000", "open.mid p2/f00000"]);
    await finish(`${id}.000001`);
    expect((await h.jobs.getTask(id))?.status).toBe("done");
    expect((await planner.runOnce()).has(id)).toBe(false);
    expect(await h.jobs.openTaskIds()).not.toContain(id);
  });

  it("closes a consumer whose producer ended without an output as broken, with E1609 saying why", async () => {
    const producer = await h.client.submit(h.sign(batch({ outputDataset: "open.none", maxJobs: 1 }), h.people.alice));
    const consumer = await h.client.submit(h.sign(batch({ inputDatasets: ["open.none"] }), h.people.alice));
    await fail(`${producer.taskId}.000000`);
    expect((await h.planner().runOnce()).get(consumer.taskId)).toBe("closed");
    const t = await h.jobs.getTask(consumer.taskId);
    expect(t).toMatchObject({ status: "broken", open: false, njobs: 0, errorCode: ERR.INTAKE_INPUT_NOT_PRODUCED });
    expect(t?.message).toContain(`open.none is the output of task ${producer.taskId}, which ended broken without writing a file`);
    // A task submitted now reading that dataset is refused with the same reason.
    expect((await refusal(h.client.submit(h.sign(batch({ inputDatasets: ["open.none"] }), h.people.alice)))).code).toBe(ERR.INTAKE_INPUT_NOT_PRODUCED);
  });

  it("consumes every file exactly once when several intakes plan the same task at once", async () => {
    const producer = await h.client.submit(h.sign(batch({ outputDataset: "open.race" }), h.people.alice));
    const consumer = await h.client.submit(h.sign(batch({ inputDatasets: ["open.race"], filesPerJob: 3 }), h.people.alice));
    const planners = [h.planner(), h.planner(), h.planner()];
    const produced: string[] = [];
    for (let round = 0; round < 6; round++) {
      const batchFiles = lfns(`r${round}`, 4);
      await h.catalog.addFiles("open.race", batchFiles, [round % 2 === 0 ? "CERN" : "BNL"]);
      produced.push(...batchFiles.map((f) => `open.race ${f.lfn}`));
      await Promise.all(planners.map((p) => p.runOnce()));
    }
    await h.cancel(producer.taskId, h.people.alice);
    for (let i = 0; i < 3; i++) await Promise.all(planners.map((p) => p.runOnce()));
    const t = await h.jobs.getTask(consumer.taskId);
    expect(t?.open).toBe(false);
    const consumed = await inputsOf(consumer.taskId);
    expect(consumed.sort()).toEqual(produced.sort());
    expect(await h.jobs.consumedCount(consumer.taskId)).toBe(produced.length);
    // 12 files written at each site, 3 per job: 4 jobs per site, none mixing sites (even rounds at CERN).
    const jobs = await h.jobs.listJobs(consumer.taskId);
    for (const j of jobs) expect(new Set(j.spec.inputFiles.map((f) => Number(f.lfn[1]) % 2)).size).toBe(1);
    expect(jobs.map((j) => j.site).sort()).toEqual(["BNL", "BNL", "BNL", "BNL", "CERN", "CERN", "CERN", "CERN"]);
  });

  it("stops planning a consumer its owner cancelled while open", async () => {
    const producer = await h.client.submit(h.sign(batch({ outputDataset: "open.cancel" }), h.people.alice));
    const consumer = await h.client.submit(h.sign(batch({ inputDatasets: ["open.cancel"] }), h.people.alice));
    await h.cancel(consumer.taskId, h.people.alice);
    await finish(`${producer.taskId}.000000`, [{ dataset: "open.cancel", lfn: "c0", site: "CERN" }]);
    expect((await h.planner().runOnce()).get(consumer.taskId)).toBe("aborted");
    expect(await h.jobs.getTask(consumer.taskId)).toMatchObject({ status: "aborted", open: false, njobs: 0 });
  });
});
