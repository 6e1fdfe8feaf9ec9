// wms classad match --batch, eval --strict and analyze, run as a user runs them.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.ts";

const dir = mkdtempSync(join(tmpdir(), "wms-classad-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("wms classad match --batch", () => {
  it("prints one JSON object per JOB_AD<TAB>MACHINE_AD line, with both Requirements and the negotiator's Ranks", async () => {
    const job = "[ RequestMemory = 2048; Requirements = TARGET.Memory >= RequestMemory; Rank = TARGET.Memory ]";
    const lines = [
      `${job}\t[ Memory = 4096; Requirements = true ]`,
      `${job}\t[ Memory = 1024; Requirements = true; Rank = 7 ]`,
      "[ Requirements = 1 ]\t[ Requirements = TARGET.Nope ]",
      `${job}\t[ Memory = ]`,
      "no tab here",
      `${job}\t[ Memory = 8192; Requirements = TARGET.RequestMemory < 4096 ]`,
    ];
    const r = await runCli(["classad", "match", "--batch"], { input: lines.join("\n") + "\n" });
    const out = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out).toHaveLength(6);
    expect(out[0]).toEqual({ match: true, jobRequirements: "true", machineRequirements: "true", jobRank: 4096, machineRank: 4096 });
    expect(out[1]).toEqual({ match: false, jobRequirements: "false", machineRequirements: "true", jobRank: 1024, machineRank: 7 });
    expect(out[2]).toEqual({ match: false, jobRequirements: "1", machineRequirements: "undefined", jobRank: 0, machineRank: 0 });
    expect(out[3]).toMatchObject({ line: 4, error: { code: 1510, name: "CLASSAD_PARSE", message: expect.stringMatching(/^the machine ad does not parse at line 1/) } });
    expect(out[4]).toMatchObject({ line: 5, error: { code: 1001 } });
    expect(out[5]).toMatchObject({ match: true, jobRank: 8192 });
    // Bad lines do not stop the run, but the exit code says some were bad.
    expect(r.code).toBe(1);
  });

  it("refuses ads on the command line together with --batch, in one coded line", async () => {
    const r = await runCli(["classad", "match", "--batch", "[ a = 1 ]"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/E1008 USAGE/);
  });
});

describe("wms classad eval --strict (new-ClassAd semantics, classad.cpp / lexer.cpp)", () => {
  it("reads integer literals with a leading 0 as the library does (base 10), refuses them without --strict", async () => {
    expect((await runCli(["classad", "eval", "--strict", "017 + 0x10"])).stdout).toBe("17\n");
    expect((await runCli(["classad", "eval", "--strict", "019"])).stderr).toMatch(/E1510 CLASSAD_PARSE/);
    expect((await runCli(["classad", "eval", "017"])).stderr).toMatch(/E1510 CLASSAD_PARSE/);
  });

  // Four CLI processes: 10 s of the default 30 s in a loaded fresh-clone CI run.
  it("has no bare-name fallback to TARGET and no special `my`", async () => {
    const args = ["--my", "[ A = 1 ]", "--target", "[ B = 2 ]", "B"];
    expect((await runCli(["classad", "eval", ...args])).stdout).toBe("2\n");
    expect((await runCli(["classad", "eval", "--strict", ...args])).stdout).toBe("undefined\n");
    expect((await runCli(["classad", "eval", "--strict", "--my", "[ A = 1 ]", "--target", "[ B = 2 ]", "TARGET.B + MY.A"])).stdout).toBe("3\n");
    expect((await runCli(["classad", "eval", "--strict", "--my", "[ A = 1 ]", "MY.A"])).stdout).toBe("undefined\n");
  }, 90_000);
});

describe("wms classad analyze", () => {
  const machines = [
    '[ Name = "slot1@big"; Memory = 65536; Cpus = 32; OpSys = "LINUX"; Requirements = TARGET.Owner != "mallory" ]',
    '[ Name = "slot1@small"; Memory = 2048; Cpus = 4; OpSys = "LINUX"; Requirements = true ]',
    '[ Name = "slot1@mac"; Memory = 16384; Cpus = 8; OpSys = "OSX"; Requirements = TARGET.RequestMemory < 1000 ]',
  ];
  const file = join(dir, "machines.ads");
  writeFileSync(file, machines.join("\n") + "\n");
  const job = '[ Owner = "alice"; RequestMemory = 8192; Requirements = TARGET.Memory >= RequestMemory && (TARGET.OpSys == "LINUX") && TARGET.Cpus >= 16 ]';

  it("says how many machines each Requirements clause accepts and which machines refuse the job", async () => {
    const r = await runCli(["classad", "analyze", job, "--machines", file, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      machines: 3,
      matching: 1,
      jobRequirements: 'TARGET.Memory >= RequestMemory && (TARGET.OpSys == "LINUX") && TARGET.Cpus >= 16',
      clauses: [
        { clause: "TARGET.Memory >= RequestMemory", machinesAccepting: 2 },
        { clause: 'TARGET.OpSys == "LINUX"', machinesAccepting: 2 },
        { clause: "TARGET.Cpus >= 16", machinesAccepting: 1 },
      ],
      acceptedByJob: 1,
      acceptingJob: 2,
      machinesRejectingJob: ["slot1@mac"],
    });
    const text = await runCli(["classad", "analyze", job, "--machines", file]);
    expect(text.stdout).toMatch(/\[2\] +1 +TARGET\.Cpus >= 16/);
    expect(text.stdout).toMatch(/slot1@mac/);
  });

  it("reads condor_status -long blocks too, and names a machine ad that does not parse", async () => {
    const long = join(dir, "long.ads");
    writeFileSync(long, 'Name = "a"\nMemory = 9000\nCpus = 16\nOpSys = "LINUX"\nRequirements = true\n\nName = "b"\nMemory = 100\nRequirements = true\n');
    const r = await runCli(["classad", "analyze", job, "--machines", long, "--json"]);
    expect(JSON.parse(r.stdout)).toMatchObject({ machines: 2, matching: 1 });
    const bad = join(dir, "bad.ads");
    writeFileSync(bad, "[ Memory = 1 ]\n[ Memory = ]\n");
    const e = await runCli(["classad", "analyze", job, "--machines", bad]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/E1510 CLASSAD_PARSE: .*machine ad 2 of .*bad\.ads does not parse/);
  });
});
