import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { JobStore } from "../../jobs/index.ts";
import { startMonitor, type RunningMonitor } from "../../agents/monitor/monitor-server.ts";
import { ERR, type JobSpec } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { openRedisAs } from "../support/live-services.ts";
import { openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { parsePrometheusText } from "../support/prometheus-text.ts";
import { findChromium, HEADLESS_ARGS } from "../support/chromium.ts";

// The fixtures are written as the agents write them; the monitor reads on its own read-only identity.
const loaded = testConfig("monitor");
const { names } = loaded;
const config = asRole(loaded, "monitor").config;
const redis = openRedisAs(loaded, "agents");
const monitorRedis = openRedis(config);
const store = new JobStore(redis, names);
const OWNER = "/DC=org/DC=pilot-wms/CN=Monitor Tester";
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;
const CHROMIUM = findChromium();
let monitor: RunningMonitor;

function spec(i: number, site: string): JobSpec {
  return {
    schemaVersion: 1, jobId: `MT1.${String(i).padStart(6, "0")}`, taskId: "MT1", taskName: "monitor.test", kind: "production", vo: "atlas", group: "",
    userDn: OWNER, priority: 10, site, executable: "/bin/true", arguments: [], environment: { SECRET_TOKEN: "must-not-show" }, requirements: "true", rank: "0",
    cores: 1, memoryMb: 100, walltimeSec: 60, inputFiles: [], outputDataset: "o", attempt: 1, maxAttempts: 3,
  };
}

beforeAll(async () => {
  await store.createTask(
    { taskId: "MT1", taskName: "monitor.test", kind: "production", vo: "atlas", group: "", ownerDn: OWNER, priority: 10, maxAttempts: 3, outputDataset: "o" },
    Array.from({ length: 12 }, (_, i) => ({ spec: spec(i, i % 2 ? "SITE_B" : "SITE_A"), state: "activated" as const })),
  );
  monitor = await startMonitor({ redis: monitorRedis, names, port: 0, sampleEveryMs: 200 });
});

afterAll(async () => {
  await monitor?.close();
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  monitorRedis.disconnect();
});

async function api<T>(path: string): Promise<T> {
  const r = await fetch(monitor.url + path);
  return (await r.json()) as T;
}

// The browser tests need a Chromium (test/support/chromium.ts); without one they are skipped, with the
// reason in their title, and the browser-free tests below still run.
describe.skipIf(!CHROMIUM.found)(CHROMIUM.found ? "monitor in a browser" : `monitor in a browser (skipped: ${CHROMIUM.reason})`, () => {
  let browser: Browser;
  beforeAll(async () => {
    if (CHROMIUM.found) browser = await chromium.launch({ executablePath: CHROMIUM.executablePath, args: HEADLESS_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("shows on the task page the job counts the API reports, and a failed job's code and message", async () => {
    // The task moves while the page is open, as a running task does.
    await store.transition("MT1.000000", "sent", ["activated"], { pilotId: "pilot-1" });
    await store.transition("MT1.000000", "running", ["sent"]);
    await store.transition("MT1.000001", "failed", ["activated"], { errorCode: ERR.STAGEIN_CHECKSUM_MISMATCH, errorMessage: "file0001.txt adler32 0a0b0c0d != 01020304" });
    await store.transition("MT1.000002", "sent", ["activated"]);
    await store.transition("MT1.000002", "finished", ["sent"], { wallSec: 3.5 });

    const page = await browser.newPage();
    await page.goto(`${monitor.url}/task/MT1`);
    await page.waitForSelector("#jobs table");
    const counts = await api<{ counts: Record<string, number> }>("/api/tasks/MT1");
    for (const [state, n] of Object.entries(counts.counts)) {
      await expect.poll(async () => (await page.locator(`[data-state="${state}"]`).textContent())?.trim(), { timeout: 10_000 }).toBe(`${state} ${n}`);
    }
    const failedRow = page.locator("#jobs tr", { hasText: "MT1.000001" });
    await expect(failedRow.textContent()).resolves.toContain("1203");
    await expect(failedRow.textContent()).resolves.toContain("STAGEIN_CHECKSUM_MISMATCH");
    await expect(failedRow.textContent()).resolves.toContain("adler32 0a0b0c0d != 01020304");
    const html = await page.content();
    expect(html).not.toContain("must-not-show");
    await page.close();
  });

  it("draws the dashboard with the task and saves a screenshot as a test artifact", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${monitor.url}/`);
    await page.waitForSelector("#tasks a");
    expect(await page.locator("#tasks").textContent()).toContain(OWNER);
    expect(await page.locator("#errors").textContent()).toContain("STAGEIN_CHECKSUM_MISMATCH");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}monitor-dashboard.png`, fullPage: true });
    await page.close();
  });
});

describe("monitor", () => {

  it("serves /metrics in Prometheus text format, and its figures move while the task runs", async () => {
    const read = async (): Promise<Map<string, number>> => {
      const r = await fetch(`${monitor.url}/metrics`);
      expect(r.headers.get("content-type")).toContain("text/plain");
      const samples = parsePrometheusText(await r.text());
      return new Map(samples.filter((s) => s.name === "wms_jobs").map((s) => [s.labels.state, s.value]));
    };
    const before = await read();
    for (const id of ["MT1.000003", "MT1.000004"]) {
      await store.transition(id, "sent", ["activated"]);
      await store.transition(id, "finished", ["sent"]);
    }
    const after = await read();
    expect((after.get("finished") ?? 0) - (before.get("finished") ?? 0)).toBe(2);
    expect((before.get("activated") ?? 0) - (after.get("activated") ?? 0)).toBe(2);
  });

  it("answers bad API input with an error code and no crash", async () => {
    const r = await fetch(`${monitor.url}/api/tasks/MT1/jobs?state=dancing`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: number } }).error.code).toBe(ERR.BAD_INPUT);
    const missing = await fetch(`${monitor.url}/api/tasks/NOPE`);
    expect(missing.status).toBe(404);
  });

  it("answers what never reaches a route (a 100 KB URL, an over-long id, a malformed URL) in its JSON error shape, with a code", async () => {
    const cases: Array<[string, number, number, RegExp]> = [
      [`/api/tasks?filter=${"x".repeat(100 * 1024)}`, 431, ERR.BAD_INPUT, /larger than the \d+ KB/],
      [`/api/tasks/${"T".repeat(500)}`, 414, ERR.BAD_INPUT, /longer than \d+ characters/],
      ["/api/tasks/%E0%A4%A", 400, ERR.BAD_INPUT, /not a valid URL/],
    ];
    for (const [path, status, code, message] of cases) {
      const r = await fetch(monitor.url + path);
      expect(r.status, path.slice(0, 40)).toBe(status);
      const body = (await r.json()) as { error: { code: number; name: string; message: string } };
      expect(body.error, path.slice(0, 40)).toMatchObject({ code, name: "BAD_INPUT", message: expect.stringMatching(message) });
    }
    // And it still serves.
    expect((await fetch(`${monitor.url}/healthz`)).status).toBe(200);
  });

  it("answers GET /api with the list of its endpoints, each of which answers, and an unknown API path with a coded 404 pointing there", async () => {
    const r = await fetch(`${monitor.url}/api`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    const { endpoints } = (await r.json()) as { endpoints: Array<{ method: string; path: string; summary: string }> };
    const paths = endpoints.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["/api", "/api/tasks", "/api/tasks/:id", "/api/tasks/:id/jobs", "/api/jobs/:id", "/api/jobs/:id/log", "/api/sites", "/api/pilots", "/api/factory", "/api/errors", "/api/accounting", "/api/history", "/metrics"]));
    for (const e of endpoints) expect(e.summary.length).toBeGreaterThan(0);
    // The list does not promise what is not there: every endpoint without a parameter answers 200.
    for (const p of paths.filter((x) => !x.includes(":"))) expect((await fetch(monitor.url + p)).status, p).toBe(200);
    const unknown = await fetch(`${monitor.url}/api/nope`);
    expect(unknown.status).toBe(404);
    const body = (await unknown.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(ERR.NOT_FOUND);
    expect(body.error.message).toContain("GET /api lists the endpoints");
  });

  it("answers another method on a path it serves with a coded 405 naming the allowed methods, and changes nothing", async () => {
    const before = await api<unknown>("/api/tasks/MT1");
    for (const [method, path] of [["POST", "/api/tasks"], ["DELETE", "/api/tasks/MT1"], ["PUT", "/api/jobs/MT1.000001"], ["PATCH", "/metrics"], ["OPTIONS", "/api"], ["POST", "/"]] as const) {
      const r = await fetch(monitor.url + path, { method, body: method === "OPTIONS" ? undefined : "{}", headers: { "content-type": "application/json" } });
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.headers.get("allow"), `${method} ${path}`).toBe("GET, HEAD");
      const body = (await r.json()) as { error: { code: number; name: string; message: string } };
      expect(body.error, `${method} ${path}`).toMatchObject({ code: ERR.METHOD_NOT_ALLOWED, message: expect.stringContaining(`${method} ${path}`) });
    }
    // HEAD is GET without the body; a path nobody serves stays 404 whatever the method.
    expect((await fetch(`${monitor.url}/api/tasks`, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(`${monitor.url}/api/nope`, { method: "POST", body: "{}" })).status).toBe(404);
    // No body is read, so a broken or oversized one is not an internal error (it was E1000, 500).
    for (const body of ["", "{", "x".repeat(2 * 1024 * 1024)]) {
      for (const path of ["/api/tasks", "/api/nope"]) {
        const r = await fetch(monitor.url + path, { method: "POST", body, headers: { "content-type": "application/json" } });
        expect(r.status, `${body.length} bytes to ${path}`).toBe(path === "/api/nope" ? 404 : 405);
      }
    }
    expect(await api<unknown>("/api/tasks/MT1")).toEqual(before);
  });
});
