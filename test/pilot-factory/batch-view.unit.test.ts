import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { localBatchId, localProcessState, parseCondorQ, parseSqueue } from "../../pilot-factory/index.ts";

describe("the batch system's view of pilots", () => {
  it("local: a live process is running; once it ended, or its pid names another process, it is gone", async () => {
    const child = spawn("/bin/sleep", ["30"], { stdio: "ignore" });
    await new Promise((resolve) => child.once("spawn", resolve));
    const pid = child.pid ?? -1;
    const id = localBatchId(pid);
    expect(id).toMatch(new RegExp(`^${pid}@\\d+$`));
    expect(localProcessState(id)).toBe("running");
    // Same pid, another start time: the kernel gave the pid to someone else.
    expect(localProcessState(`${pid}@1`)).toBe("gone");
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    expect(localProcessState(id)).toBe("gone");
    expect(localProcessState("not-a-pid")).toBe("gone");
  });

  it("HTCondor: condor_q -af WmsPilotId JobStatus maps idle/held to queued, running to running, removed/completed to gone", () => {
    const m = parseCondorQ("p1 1\np2 2\np3 4\np4 5\nundefined 2\n\n");
    expect([...m]).toEqual([
      ["p1", "queued"],
      ["p2", "running"],
      ["p3", "gone"],
      ["p4", "queued"],
    ]);
  });

  it("Slurm: squeue %i %T maps PENDING to queued, RUNNING to running, anything else to gone", () => {
    const m = parseSqueue("101 PENDING\n102 RUNNING\n103 COMPLETED\n104 FAILED\n");
    expect(Object.fromEntries(m)).toEqual({ "101": "queued", "102": "running", "103": "gone", "104": "gone" });
  });
});
