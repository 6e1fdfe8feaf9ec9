// What a `wms` process costs to start, in CPU (user + system) from exec: `wms --help`, and a pilot
// from exec to its first advert on NATS. Every pilot a factory starts and every CLI call pays this,
// so on a loaded worker node it is what decides how soon work begins. The baseline is `node -e 0`
// in the same run: the part no code of ours can remove. Medians of several runs, since one process
// start is a few clock ticks (10 ms each) and the machine is shared.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../platform/config.ts";
import { openNats } from "../../platform/connections.ts";
import { initPki } from "../../security/index.ts";
import { clockTicksPerSec, processTree, reapedChildrenCpuSec } from "../../site-authz/index.ts";
import type { BenchSuite } from "./suite.ts";

const WMS_BIN = fileURLToPath(new URL("../../bin/wms.mjs", import.meta.url));
const BUILD = fileURLToPath(new URL("../../scripts/build.mjs", import.meta.url));
const RUNS = 7;
const DEV_RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU ms of one child run to its end: the growth of this process's reaped-children counters. */
function childCpuMs(args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const before = reapedChildrenCpuSec();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"], env });
  if (r.status !== 0) throw new Error(`cli bench: node ${args.join(" ")} exited ${r.status}`);
  const after = reapedChildrenCpuSec();
  return (after.user - before.user + after.sys - before.sys) * 1000;
}

/** CPU ms a pilot has used (its own and its children's, live or reaped) when its first advert reaches NATS. */
async function pilotFirstAdvertCpuMs(dir: string, pkiDir: string, sitesFile: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<number> {
  const namespace = `benchcli${randomBytes(3).toString("hex")}`;
  const { config, names } = loadConfig({ overrides: { namespace } });
  const nc = await openNats(config, "bench-cli");
  try {
    const sub = nc.subscribe(names.advertFor("SITE_A"), { max: 1 });
    await nc.flush();
    const child = spawn(
      process.execPath,
      [WMS_BIN, "--namespace", namespace, "pilot", "--site", "SITE_A", "--sites-file", sitesFile, "--work-dir", path.join(dir, "work"), "--max-empty", "1"],
      { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, WMS_PILOT_TOKEN: "t".repeat(24), WMS_PKI_DIR: pkiDir, WMS_LOG_LEVEL: "silent", WMS_CONFIG: undefined, ...extraEnv } },
    );
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      const timeout = setTimeout(() => sub.unsubscribe(), 60_000);
      let cpuMs: number | undefined;
      for await (const _advert of sub) {
        const tree = await processTree(child.pid!);
        cpuMs = (tree.reduce((sum, p) => sum + p.utime + p.stime + p.cutime + p.cstime, 0) / clockTicksPerSec()) * 1000;
      }
      clearTimeout(timeout);
      if (cpuMs === undefined) throw new Error("cli bench: the pilot sent no advert within 60 s");
      return cpuMs;
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
  } finally {
    await nc.close();
  }
}

export const cliSuite: BenchSuite = {
  key: "cli",
  async run() {
    // The figures are for the compiled build users run; bring it up to date first.
    execFileSync(process.execPath, [BUILD, "--quiet"], { stdio: "inherit" });
    const dir = mkdtempSync(path.join(os.tmpdir(), "bench-cli-"));
    try {
      const pkiDir = path.join(dir, "pki");
      initPki(pkiDir);
      const sitesFile = path.join(dir, "sites.yaml");
      writeFileSync(sitesFile, `schemaVersion: 1\nsites:\n  - name: SITE_A\n    storagePath: ${dir}\n`);
      const built = { ...process.env, WMS_DEV: undefined };
      const unbundled = { ...built, WMS_BUNDLE: "0" };
      const baseline: number[] = [];
      const help: number[] = [];
      const pilot: number[] = [];
      const helpTree: number[] = [];
      const pilotTree: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        // Interleaved, so a burst of load elsewhere on the machine touches all of them alike.
        baseline.push(childCpuMs(["-e", "0"]));
        help.push(childCpuMs([WMS_BIN, "--help"], built));
        pilot.push(await pilotFirstAdvertCpuMs(dir, pkiDir, sitesFile));
        helpTree.push(childCpuMs([WMS_BIN, "--help"], unbundled));
        pilotTree.push(await pilotFirstAdvertCpuMs(dir, pkiDir, sitesFile, { WMS_BUNDLE: "0" }));
      }
      const dev: number[] = [];
      for (let i = 0; i < DEV_RUNS; i++) dev.push(childCpuMs([WMS_BIN, "--help"], { ...process.env, WMS_DEV: "1" }));
      const nodeBaselineCpuMs = median(baseline);
      const helpCpuMs = median(help);
      const pilotStartCpuMs = median(pilot);
      return {
        nodeBaselineCpuMs,
        helpCpuMs,
        helpTargetCpuMs: 250,
        helpOverBaselineCpuMs: helpCpuMs - nodeBaselineCpuMs,
        pilotStartCpuMs,
        pilotStartTargetCpuMs: 400,
        pilotStartOverBaselineCpuMs: pilotStartCpuMs - nodeBaselineCpuMs,
        helpCpuMsUnbundled: median(helpTree),
        pilotStartCpuMsUnbundled: median(pilotTree),
        helpCpuMsUnderTsx: median(dev),
        runs: RUNS,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
