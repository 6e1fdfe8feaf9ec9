// A user's second terminal: `wms` run outside the folder `wms init` made finds no wms.yaml and
// falls back to the default namespace, where none of their tasks are; in the folder, once `wms up`
// was stopped, nothing answers at its addresses. Either way the command says where it looked and
// what to do, instead of "no tasks" or a bare connection refusal.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploymentFolder } from "../support/deployment-folder.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { runCli } from "../support/run-cli.ts";
import { roleEnv } from "../support/test-roles.ts";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const elsewhere = mkdtempSync(path.join(tmpdir(), "wms-away-"));
const grid = deploymentFolder("away");

beforeAll(() => grid.init({ matchmakers: 1 }), 120_000);
afterAll(async () => {
  rmSync(elsewhere, { recursive: true, force: true });
  await grid.cleanup();
});

describe("wms run away from its deployment", () => {
  it("in a folder without wms.yaml, an empty listing and a task not found say which namespace was read and what to do", async () => {
    const ns = uniqueNamespace("away");
    const env = { ...roleEnv("operator"), WMS_CONFIG: undefined, WMS_NAMESPACE: ns };
    const note = `no wms.yaml here, so namespace '${ns}' at the default addresses: run this in your deployment's folder or give --config DIR/wms.yaml`;
    const list = await runCli(["task", "list"], { cwd: elsewhere, env });
    expect(list.stderr).toBe("");
    expect(list.stdout).toBe(`no tasks; ${note}\n`);
    expect(list.code).toBe(0);
    const status = await runCli(["task", "status", "T1"], { cwd: elsewhere, env });
    expect(status.stderr).toBe(`wms: error E1005 NOT_FOUND: The requested object does not exist: no task T1; ${note}\n`);
    expect(status.code).toBe(1);
  }, 60_000);

  it("in a deployment folder whose wms up is not running, a service that does not answer says to start it", async () => {
    const port = await freePort();
    const r = await runCli(["task", "list"], { cwd: grid.dir, env: { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_REDIS_URL: `redis://127.0.0.1:${port}` } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      new RegExp(
        `^wms: error E1003 SERVICE_UNAVAILABLE: .*redis://127\\.0\\.0\\.1:${port}.*; 'wms up' does not run for ${grid.dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\('wms up --detach' starts it there\\); 'wms services check' tells which service does not answer\n$`,
      ),
    );
  }, 60_000);
});
