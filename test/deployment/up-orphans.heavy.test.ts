// `wms down` after the supervisor itself died (kill -9, an OOM kill): the state file still names
// every process it started, and `wms down` stops them all from there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive, readUpState, type ProcessRef } from "../../deployment/up-state.ts";
import { deploymentFolder } from "../support/deployment-folder.ts";

const grid = deploymentFolder("uporphans");
const { dir, wms } = grid;

beforeAll(() => grid.init({ matchmakers: 2 }), 120_000);

afterAll(() => grid.cleanup(), 60_000);

describe("wms down after the supervisor was killed", () => {
  it("says the run did not stop cleanly, then stops every process the supervisor had started", async () => {
    expect((await wms(["up", "--detach"], 300_000)).code).toBe(0);
    const state = readUpState(dir);
    const children: ProcessRef[] = (state?.children ?? []).map((c) => ({ pid: c.pid as number, startTicks: c.startTicks }));
    expect(children).toHaveLength(8);
    process.kill(state?.supervisor.pid as number, "SIGKILL");
    await expect.poll(() => isAlive(state?.supervisor as ProcessRef)).toBe(false);
    // The services run on, unsupervised.
    expect(children.every(isAlive)).toBe(true);
    expect((await wms(["status"])).stdout).toMatch(/a previous run did not stop cleanly: 'wms down' clears it/);
    const down = await wms(["down"], 120_000);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toBe(`stopped 8 process(es) for ${dir} (its supervisor had died; stopped what it left)\n`);
    for (const c of children) expect(isAlive(c), `pid ${c.pid}`).toBe(false);
    expect(readUpState(dir)).toBeUndefined();
  }, 480_000);
});
