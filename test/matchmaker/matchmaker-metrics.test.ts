// `wms matchmaker --metrics-port`: Prometheus scrapes the matchmaker's own counters and latency
// histogram where they are counted (the monitor runs in another process and cannot see them).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../platform/config.ts";
import { openNats } from "../../platform/connections.ts";
import { freePort } from "../../platform/local-services.ts";
import { initPki } from "../../security/index.ts";
import { parsePrometheusText } from "../support/prometheus-text.ts";
import { runCli, WMS_BIN } from "../support/run-cli.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { asRole, roleEnv } from "../support/test-roles.ts";

const namespace = uniqueNamespace("mmmetrics");
let dir: string;
let port: number;
let child: ChildProcess;
let stderr = "";

async function scrape(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain");
  return r.text();
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "mm-metrics-"));
  initPki(path.join(dir, "pki"));
  port = await freePort();
  child = spawn(process.execPath, [WMS_BIN, "--namespace", namespace, "matchmaker", "--metrics-port", String(port)], {
    env: { ...process.env, ...roleEnv("matchmaker"), WMS_PKI_DIR: path.join(dir, "pki"), WMS_CONFIG: undefined, WMS_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on("data", (d: Buffer) => (stderr += d.toString()));
  await vi.waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`matchmaker exited: ${stderr}`);
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      if (r.status !== 200) throw new Error(`status ${r.status}`);
    },
    { timeout: 30_000, interval: 200 },
  );
});

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("wms matchmaker --metrics-port", () => {
  it("serves its counters and advert-latency histogram in the Prometheus text format, typed", async () => {
    const text = await scrape();
    parsePrometheusText(text); // throws on any malformed line
    expect(text).toMatch(/^# TYPE wms_matchmaker_advert_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE wms_matchmaker_matches_total counter$/m);
    expect(text).toMatch(/^# TYPE wms_matchmaker_errors_total counter$/m);
    expect(stderr).toContain(`http://127.0.0.1:${port}/metrics`);
  });

  it("counts a refused advert by its code and times it", async () => {
    // A pilot's connection: only pilots publish adverts.
    const { config, names } = asRole(loadConfig({ overrides: { namespace } }), "pilot");
    const nc = await openNats(config, "mm-metrics-test");
    try {
      const reply = await nc.request(names.advertFor("SITE_A"), new TextEncoder().encode("{not json"), { timeout: 10_000 });
      expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ status: "error", code: 1001 });
    } finally {
      await nc.close();
    }
    const samples = parsePrometheusText(await scrape());
    const refused = samples.find((s) => s.name === "wms_matchmaker_errors_total" && s.labels.code === "1001");
    expect(refused?.value).toBe(1);
    const count = samples.find((s) => s.name === "wms_matchmaker_advert_seconds_count");
    expect(count?.value).toBeGreaterThanOrEqual(1);
  });

  it("answers other paths with 404", async () => {
    const r = await fetch(`http://127.0.0.1:${port}/other`);
    expect(r.status).toBe(404);
  });

  it("refuses a port in use in one line with its code, and a bad port as a usage error", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const busyPort = (busy.address() as { port: number }).port;
    try {
      const r = await runCli(["--namespace", namespace, "matchmaker", "--metrics-port", String(busyPort)], { env: { ...roleEnv("matchmaker"), WMS_PKI_DIR: path.join(dir, "pki"), WMS_CONFIG: undefined } });
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("E1010");
    } finally {
      busy.close();
    }
    const bad = await runCli(["matchmaker", "--metrics-port", "99999"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("E1009");
  });
});
