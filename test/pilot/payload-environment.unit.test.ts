import { describe, expect, it } from "vitest";
import { payloadEnvironment } from "../../agents/pilot/payload-environment.ts";
import { resolveInside } from "../../agents/pilot/storage-path.ts";
import type { JobSpec } from "../../schemas/index.ts";

const job = {
  jobId: "j1",
  taskId: "t1",
  site: "S",
  attempt: 2,
  environment: { MY_SETTING: "on", X509_USER_PROXY: "/tmp/stolen" },
} as unknown as JobSpec;

describe("payload environment", () => {
  it("is built from scratch: the pilot's token never reaches the payload", () => {
    process.env.WMS_PILOT_TOKEN = "pilot-secret-token-0123456789";
    const env = payloadEnvironment({ job, jobDir: "/w/j1", outputsDir: "/w/j1/outputs", inputs: ["a/b.dat", "c d.dat"], proxyPath: "/w/j1/.x509up", pilotId: "p", path: "/usr/bin:/bin" });
    expect(env.MY_SETTING).toBe("on");
    expect(env.X509_USER_PROXY).toBe("/w/j1/.x509up");
    expect(env.WMS_INPUTS.split("\n")).toEqual(["/w/j1/a/b.dat", "/w/j1/c d.dat"]);
    expect(env.WMS_ATTEMPT).toBe("2");
    expect(env.HOME).toBe("/w/j1");
    expect(env.WMS_PILOT_TOKEN).toBeUndefined();
    expect(Object.values(env)).not.toContain("pilot-secret-token-0123456789");
    expect(Object.keys(env).sort()).toEqual(
      ["HOME", "LANG", "MY_SETTING", "PATH", "PWD", "WMS_ATTEMPT", "WMS_INPUTS", "WMS_JOB_ID", "WMS_OUTPUT_DIR", "WMS_PILOT_ID", "WMS_SITE", "WMS_TASK_ID", "X509_USER_PROXY"].sort(),
    );
    delete process.env.WMS_PILOT_TOKEN;
  });

  it("refuses to hand a payload a relative path, which would point elsewhere from the payload's cwd", () => {
    expect(() => payloadEnvironment({ job, jobDir: "w/j1", outputsDir: "w/j1/outputs", inputs: [], proxyPath: "w/j1/.x509up", pilotId: "p", path: "/bin" })).toThrow(/absolute path/);
  });
});

describe("paths under the site storage", () => {
  it("refuses lfns that climb out of the storage or are absolute", () => {
    expect(resolveInside("/store", "ds/file.dat")).toBe("/store/ds/file.dat");
    expect(resolveInside("/store", "../etc/passwd")).toBeUndefined();
    expect(resolveInside("/store", "ds/../../x")).toBeUndefined();
    expect(resolveInside("/store", "/etc/passwd")).toBeUndefined();
    expect(resolveInside("/store", "")).toBeUndefined();
  });
});
