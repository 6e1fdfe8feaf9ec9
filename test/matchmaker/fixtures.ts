// Jobs and tasks for the matchmaker tests: valid JobSpecs with the fields a test cares about.
import { randomBytes } from "node:crypto";
import type { JobSpec } from "../../schemas/index.ts";
import type { JobStore } from "../../jobs/index.ts";

export interface SpecOptions {
  taskId: string;
  site: string;
  priority?: number;
  userDn?: string;
  userCaDn?: string;
  userRoles?: string[];
  requirements?: string;
  rank?: string;
  cores?: number;
  memoryMb?: number;
  walltimeSec?: number;
  maxAttempts?: number;
}

export function makeSpec(o: SpecOptions, index: number): JobSpec {
  return {
    schemaVersion: 1,
    jobId: `${o.taskId}.${index}`,
    taskId: o.taskId,
    taskName: `task-${o.taskId}`,
    kind: "production",
    vo: "atlas",
    group: "atlas/prod",
    userDn: o.userDn ?? "/DC=org/CN=Jane Doe",
    ...(o.userCaDn !== undefined ? { userCaDn: o.userCaDn } : {}),
    ...(o.userRoles !== undefined ? { userRoles: o.userRoles } : {}),
    priority: o.priority ?? 100,
    site: o.site,
    executable: "/bin/true",
    arguments: [],
    environment: {},
    requirements: o.requirements ?? "",
    rank: o.rank ?? "",
    cores: o.cores ?? 1,
    memoryMb: o.memoryMb ?? 1000,
    walltimeSec: o.walltimeSec ?? 600,
    inputFiles: [],
    outputDataset: "out.ds",
    attempt: 1,
    maxAttempts: o.maxAttempts ?? 3,
  };
}

/** Records a task of `n` jobs in the JobStore (state activated) and returns their specs. */
export async function createJobs(store: JobStore, o: Omit<SpecOptions, "taskId"> & { taskId?: string }, n: number): Promise<JobSpec[]> {
  const taskId = o.taskId ?? `t${randomBytes(4).toString("hex")}`;
  const specs = Array.from({ length: n }, (_, i) => makeSpec({ ...o, taskId }, i));
  await store.createTask(
    { taskId, taskName: `task-${taskId}`, kind: "production", vo: "atlas", group: "atlas/prod", ownerDn: specs[0]?.userDn ?? "/CN=x", priority: o.priority ?? 100, maxAttempts: o.maxAttempts ?? 3, outputDataset: "out.ds" },
    specs.map((spec) => ({ spec, state: "activated" as const })),
  );
  return specs;
}
