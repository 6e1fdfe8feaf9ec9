// `wms down` after the supervisor itself died (kill -9, an OOM kill): the state file still names
// every process it started, and `wms down` stops them all from there.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type LoadedConfig } from "../../platform/config.ts";
import { openRabbit, openRedis } from "../../platform/connections.ts";
import { deleteTopology } from "../../agents/reports/index.ts";
import { initDeployment } from "../../deployment/init-deployment.ts";
import { isAlive, readUpState, type ProcessRef } from "../../deployment/up-state.ts";
import { sweepLeftovers } from "../../deployment/up.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { runCli } from "../support/run-cli.ts";

const base = mkdtempSync(path.join(tmpdir(), "wms-up-orphans-"));
const dir = path.join(base, "grid");
let loaded: LoadedConfig;
const wms = (args: string[], timeoutMs = 120_000): ReturnType<typeof runCli> => runCli(args, { cwd: dir, env: { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined }, timeoutMs });

beforeAll(() => {
  loaded = loadConfig({ path: initDeployment({ dir, namespace: uniqueNamespace("uporphans"), monitorPort: 0, matchmakers: 2 }).configFile, env: {} });
}, 120_000);

afterAll(async () => {
  const left = readUpState(dir);
  if (left) await sweepLeftovers(dir, left, 2000);
  const redis = openRedis(loaded.config);
  await deleteNamespaceKeys(redis, loaded.names.namespace);
  redis.disconnect();
  const conn = await openRabbit(loaded.config);
  await deleteTopology(await conn.createChannel(), loaded.names);
  await conn.close();
  rmSync(base, { recursive: true, force: true });
}, 60_000);

describe("wms down after the supervisor was killed", () => {
  it("says the run did not stop cleanly, then stops every process the supervisor had started", async () => {
    expect((await wms(["up", "--detach"], 300_000)).code).toBe(0);
    const state = readUpState(dir);
    const children: ProcessRef[] = (state?.children ?? []).map((c) => ({ pid: c.pid as number, startTicks: c.startTicks }));
    expect(children).toHaveLength(7);
    process.kill(state?.supervisor.pid as number, "SIGKILL");
    await expect.poll(() => isAlive(state?.supervisor as ProcessRef)).toBe(false);
    // The services run on, unsupervised.
    expect(children.every(isAlive)).toBe(true);
    expect((await wms(["status"])).stdout).toMatch(/a previous run did not stop cleanly: 'wms down' clears it/);
    const down = await wms(["down"], 120_000);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toBe(`stopped 7 process(es) for ${dir} (its supervisor had died; stopped what it left)\n`);
    for (const c of children) expect(isAlive(c), `pid ${c.pid}`).toBe(false);
    expect(readUpState(dir)).toBeUndefined();
  }, 480_000);
});
