import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readDataFile } from "../platform/config.ts";
import { FactoryConfig, SiteConfig, TaskBatch } from "../schemas/index.ts";

const dir = fileURLToPath(new URL("../examples/", import.meta.url));
const load = (name: string): unknown => readDataFile(`${dir}${name}`);

describe("examples/", () => {
  it("holds a task per common case, a sites file and a factory file, and nothing unchecked", () => {
    expect(readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()).toEqual(["chained-task.yaml", "data-local-job.yaml", "factory.yaml", "simple-job.yaml", "sites.yaml"]);
  });

  it("each task validates as a TaskBatch and writes its output into WMS_OUTPUT_DIR", () => {
    for (const name of ["simple-job.yaml", "data-local-job.yaml", "chained-task.yaml"]) {
      expect(TaskBatch.problems(load(name)), name).toBeUndefined();
      const t = TaskBatch.parse(load(name));
      expect(t.jobTemplate.arguments.join(" "), name).toContain("$WMS_OUTPUT_DIR/");
    }
  });

  it("the simple job is one job; the data-local job reads the datasets placed at different sites, two files a job", () => {
    expect(TaskBatch.parse(load("simple-job.yaml"))).toMatchObject({ maxJobs: 1, filesPerJob: 1, inputDatasets: ["examples.ds000"] });
    expect(TaskBatch.parse(load("data-local-job.yaml"))).toMatchObject({ filesPerJob: 2, inputDatasets: ["examples.ds000", "examples.ds001"], outputDataset: "examples.wordcount.out" });
  });

  it("the chained task reads what the data-local task writes", () => {
    expect(TaskBatch.parse(load("chained-task.yaml")).inputDatasets).toEqual([TaskBatch.parse(load("data-local-job.yaml")).outputDataset]);
  });

  it("the sites and the factory agree: one local queue per site", () => {
    const sites = SiteConfig.parse(load("sites.yaml")).sites.map((s) => s.name);
    const queues = FactoryConfig.parse(load("factory.yaml")).queues;
    expect(sites).toEqual(["SITE_A", "SITE_B"]);
    expect(queues.map((q) => [q.name, q.site, q.adapter])).toEqual(sites.map((s) => [`${s}-local`, s, "local"]));
  });
});
