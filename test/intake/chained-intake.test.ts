// The intake's side of chained tasks and task names: one name per owner unless the batch allows a
// duplicate, and a dataset another task writes is taken only once that task is done.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { lfns, siteConfig, startIntakeHarness, type IntakeHarness } from "./support/intake-harness.ts";

let h: IntakeHarness;

beforeAll(async () => {
  h = await startIntakeHarness("chained");
  await h.sites.publish(siteConfig([{ name: "CERN", capacity: 100 }, { name: "BNL", capacity: 100 }]));
  await h.catalog.addFiles("ds.a", lfns("a", 4), ["CERN"]);
}, 60_000);

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
  it("refuses it with E1608 while the producing task runs, and still E1601 for a dataset nobody registered or produces", async () => {
    const producer = await h.client.submit(h.sign(batch({ outputDataset: "chain.mid" }), h.people.alice));
    const e = await refusal(h.client.submit(h.sign(batch({ inputDatasets: ["chain.mid"] }), h.people.alice)));
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
  });
});
