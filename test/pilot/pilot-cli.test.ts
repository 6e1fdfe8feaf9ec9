import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openNats } from "../../platform/connections.ts";
import { PilotCensus } from "../../schemas/index.ts";
import { censusProof, initPki } from "../../security/index.ts";
import { uniqueNamespace, testConfig } from "../support/namespace.ts";
import { asRole, roleEnv } from "../support/test-roles.ts";
import { runCli } from "../support/run-cli.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "pilot-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("wms pilot", () => {
  it("documents every option in --help", async () => {
    const r = await runCli(["pilot", "--help"]);
    expect(r.code).toBe(0);
    for (const opt of ["--site", "--token", "--work-dir", "--walltime", "--max-empty", "--sites-file", "--pilot-cert", "--pilot-key", "--json"]) expect(r.stdout).toContain(opt);
  });

  it("refuses to start without a token, in one line with its code", async () => {
    const r = await runCli(["pilot", "--site", "S"], { env: { WMS_PILOT_TOKEN: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("E1008");
    expect(r.stderr).toContain("WMS_PILOT_TOKEN");
  });

  it("rejects a malformed --walltime", async () => {
    const r = await runCli(["pilot", "--site", "S", "--token", "t".repeat(20), "--walltime", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--walltime");
  });

  it("names the known sites when --site is not in the site file", async () => {
    const sites = path.join(dir, "sites.yaml");
    writeFileSync(sites, `schemaVersion: 1\nsites:\n  - name: SITE_A\n    storagePath: ${dir}\n`);
    const r = await runCli(["pilot", "--site", "NOPE", "--sites-file", sites, "--work-dir", dir], { env: { WMS_PILOT_TOKEN: "t".repeat(20) } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E1005");
    expect(r.stderr).toContain("SITE_A");
  });

  // A pilot process and CLIs: 8.5 s of the default 30 s in a loaded fresh-clone CI run.
  it("runs until no matchmaker has answered for --max-unanswered, publishing its census, and prints a summary", async () => {
    // The census listener is the factory's part; the `wms pilot` runs as the pilot role.
    const { config } = asRole(testConfig("pilotcli"), "factory");
    const ns = uniqueNamespace("pilotcli");
    const pki = path.join(dir, "pki");
    initPki(pki);
    const sites = path.join(dir, "sites-run.yaml");
    writeFileSync(sites, `schemaVersion: 1\nsites:\n  - name: SITE_A\n    storagePath: ${dir}\n    softwareTags: [sw-x]\n`);
    const nc = await openNats(config, "test-pilot-cli");
    const census: PilotCensus[] = [];
    const sub = nc.subscribe(`${ns}.pilot.census`, { callback: (_e, m) => census.push(PilotCensus.parseJson(m.data)) });
    await nc.flush();
    // No matchmaker listens in this namespace: no advert is answered, which is not an empty advert.
    const r = await runCli(
      ["--namespace", ns, "pilot", "--site", "SITE_A", "--sites-file", sites, "--work-dir", path.join(dir, "work"), "--max-empty", "2", "--max-backoff", "0", "--max-unanswered", "0.5", "--pilot-id", "pilot-cli-1", "--queue", "q1", "--factory-id", "f1", "--json"],
      { env: { ...roleEnv("pilot"), WMS_PILOT_TOKEN: "t".repeat(20), WMS_PKI_DIR: pki, WMS_LOG_LEVEL: "silent" } },
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { pilotId: string; emptyAdverts: number; jobsDone: number; exitReason: string };
    expect(summary).toMatchObject({ pilotId: "pilot-cli-1", emptyAdverts: 0, jobsDone: 0, exitReason: "no-matchmaker" });
    await nc.flush();
    sub.unsubscribe();
    await nc.close();
    expect([census[0].state, census[1].state, census.at(-1)?.state]).toEqual(["starting", "idle", "exited"]);
    expect(census.at(-1)).toMatchObject({ pilotId: "pilot-cli-1", site: "SITE_A", queue: "q1", factoryId: "f1", emptyAdverts: 0 });
    // Each proved with its token, as the factory believes no census of its pilots without it.
    for (const c of census) expect(c.proof).toBe(censusProof("t".repeat(20), "pilot-cli-1"));
  }, 90_000);
});
