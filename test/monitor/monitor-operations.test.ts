import { mkdirSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { JOB_STATES, JobStore, type JobState } from "../../jobs/index.ts";
import { startMonitor, type RunningMonitor } from "../../agents/monitor/monitor-server.ts";
import { defaultProviders } from "../../agents/monitor/monitor-providers.ts";
import { History } from "../../agents/monitor/history.ts";
import { JobLogStore } from "../../agents/job-logs/index.ts";
import { writeQueueStatus } from "../../pilot-factory/index.ts";
import { ERR, SCHEMA_VERSION, type FactoryQueueStatus, type JobSpec } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { asRole } from "../support/test-roles.ts";
import { openRedisAs } from "../support/live-services.ts";
import { openRedis } from "../../platform/connections.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { findChromium, HEADLESS_ARGS } from "../support/chromium.ts";
import { queueKnobs } from "../pilot-factory/factory-fixture.ts";

// The fixtures are written as the agents write them; the monitor reads on its own read-only identity.
const loaded = testConfig("monops");
const { names } = loaded;
const config = asRole(loaded, "monitor").config;
const redis = openRedisAs(loaded, "agents");
const monitorRedis = openRedis(config);
const store = new JobStore(redis, names);
const ALICE = "/DC=org/DC=pilot-wms/CN=Alice Analyst";
const BOB = "/DC=org/DC=pilot-wms/CN=Bob Builder";
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;
const CHROMIUM = findChromium();
let monitor: RunningMonitor;

function spec(taskId: string, owner: string, i: number): JobSpec {
  return {
    schemaVersion: 1, jobId: `${taskId}.${String(i).padStart(6, "0")}`, taskId, taskName: `${taskId.toLowerCase()}.ops`, kind: "production", vo: "atlas", group: "",
    userDn: owner, priority: 10, site: "SITE_A", executable: "/bin/true", arguments: [], environment: {}, requirements: "true", rank: "0",
    cores: 1, memoryMb: 100, walltimeSec: 60, inputFiles: [], outputDataset: "o", attempt: 1, maxAttempts: 3,
  };
}

async function task(taskId: string, owner: string): Promise<void> {
  await store.createTask(
    { taskId, taskName: `${taskId.toLowerCase()}.ops`, kind: "production", vo: "atlas", group: "", ownerDn: owner, priority: 10, maxAttempts: 3, outputDataset: "o" },
    Array.from({ length: 3 }, (_, i) => ({ spec: spec(taskId, owner, i), state: "activated" as const })),
  );
}

function status(queue: string, site: string, extra: Partial<FactoryQueueStatus> = {}): FactoryQueueStatus {
  return {
    schemaVersion: SCHEMA_VERSION, factoryId: "fac-ops", queue, site, adapter: "local", submitted: 5, pending: 1, idle: 1, running: 2, exited: 1, emptyPilots: 0, lost: 0,
    waitingJobs: 3, ratePerMin: 2, targetPerMin: 10, lastCycleSubmitted: 0, knobs: queueKnobs({ name: queue, site }), at: Date.now(), ...extra,
  };
}

/** A week of samples every ten minutes, as a monitor that has been up that long holds. */
function weekOfHistory(now: number): History {
  const h = new History();
  for (let at = now - 6 * 86_400_000; at <= now - 60_000; at += 600_000) {
    const states = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    states.running = Math.round(50 + 40 * Math.sin(at / 3_600_000));
    states.finished = Math.round((at - (now - 6 * 86_400_000)) / 60_000);
    h.add({ at, states, errors: {} });
  }
  return h;
}

beforeAll(async () => {
  await task("ALI1", ALICE);
  await task("BOB1", BOB);
  await store.transition("BOB1.000000", "failed", ["activated"], { errorCode: ERR.PAYLOAD_FAILED, errorMessage: "payload exited with code 2" });
  // Two attempts of one job with their logs, as the log agent stores them.
  const logs = new JobLogStore(redis, names);
  for (const [attempt, code, stderr] of [[1, ERR.STAGEIN_CHECKSUM_MISMATCH, "stage-in: adler32 mismatch"], [2, ERR.PAYLOAD_FAILED, "Traceback: ZeroDivisionError in calib.py"]] as const) {
    await logs.put({
      schemaVersion: SCHEMA_VERSION, kind: "log", reportId: `log-attempt-${attempt}`, jobId: "BOB1.000000", taskId: "BOB1", attempt, pilotId: `pilot-${attempt}`, site: "SITE_A",
      errorCode: code, stdout: "", stderr: `${stderr}\n`, pilotLog: "", truncated: { stdout: false, stderr: false, pilotLog: false }, at: Date.now() - (3 - attempt) * 60_000,
    });
  }
  await writeQueueStatus(redis, names, status("siteA-local", "SITE_A"));
  await writeQueueStatus(redis, names, status("siteB-condor", "SITE_B", { breaker: { state: "open", failures: 3, backoffSec: 40, reason: { code: ERR.FACTORY_SUBMIT_FAILED, message: "condor_submit: no schedd" } } }));
  monitor = await startMonitor({ redis: monitorRedis, names, port: 0, sampleEveryMs: 3_600_000, history: weekOfHistory(Date.now()), providers: await defaultProviders({ redis: monitorRedis, names, config }) });
});

afterAll(async () => {
  await monitor?.close();
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  monitorRedis.disconnect();
});

describe("the history API", () => {
  it("answers the range the picker asks for, and refuses any other with a code", async () => {
    const get = async (range: string): Promise<{ range: string; points: unknown[] }> => (await fetch(`${monitor.url}/api/history?range=${range}`)).json() as Promise<{ range: string; points: unknown[] }>;
    const [hour, day, week] = await Promise.all([get("hour"), get("day"), get("week")]);
    expect(hour.points.length).toBeLessThan(day.points.length);
    expect(day.points.length).toBeLessThan(week.points.length);
    // A name every object has (`in` looks up the prototype chain) is no range either.
    for (const range of ["century", "toString", "constructor", "__proto__", "hasOwnProperty"]) {
      const bad = await fetch(`${monitor.url}/api/history?range=${range}`);
      expect(bad.status, range).toBe(400);
      expect(((await bad.json()) as { error: { code: number } }).error.code, range).toBe(ERR.BAD_INPUT);
    }
  });
});

describe.skipIf(!CHROMIUM.found)(CHROMIUM.found ? "the monitor operators keep open" : `the monitor operators keep open (skipped: ${CHROMIUM.reason})`, () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    if (!CHROMIUM.found) return;
    browser = await chromium.launch({ executablePath: CHROMIUM.executablePath, args: HEADLESS_ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
    await page.goto(`${monitor.url}/`);
    // The page says when it shows data: no sleep, no guess.
    await page.waitForSelector("body[data-ready=true]");
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("a screenshot taken as soon as the page says it is ready shows data: tasks, the chart with axes, the factory's breaker", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = `${ARTIFACTS}monitor-ready.png`;
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(20_000);
    expect(await page.locator("#tasks").textContent()).toContain("ALI1");
    expect(Number(await page.locator("#history svg").getAttribute("data-points"))).toBeGreaterThan(1);
    expect(await page.locator("#history .x-tick").count()).toBe(5);
    expect(await page.locator("#history .y-tick").count()).toBe(3);
    expect(await page.locator("#history .y-label").textContent()).toBe("jobs");
    const factory = (await page.locator("#factory").textContent()) ?? "";
    expect(factory).toContain("open (3 failed");
    expect(factory).toContain(`E${ERR.FACTORY_SUBMIT_FAILED}: condor_submit: no schedd`);
  });

  it("the range picker changes what the chart shows: more points and dated time labels for a week than for an hour", async () => {
    const chart = page.locator("#history svg");
    await page.click('#range button[data-range="hour"]');
    await expect.poll(() => chart.getAttribute("data-range")).toBe("hour");
    const hourPoints = Number(await chart.getAttribute("data-points"));
    const hourLabels = await page.locator("#history .x-tick").allTextContents();
    await page.click('#range button[data-range="week"]');
    await expect.poll(() => page.locator("#history svg").getAttribute("data-range")).toBe("week");
    const weekPoints = Number(await page.locator("#history svg").getAttribute("data-points"));
    const weekLabels = await page.locator("#history .x-tick").allTextContents();
    expect(weekPoints).toBeGreaterThan(hourPoints * 10);
    expect(weekLabels).not.toEqual(hourLabels);
    // A week's axis names days; an hour's only times.
    expect(weekLabels[0]).toMatch(/[A-Za-z]{3}/);
    expect(hourLabels[0]).not.toMatch(/[A-Za-z]{3}/);
    expect(await page.locator('#range button[data-range="week"]').getAttribute("aria-pressed")).toBe("true");
  });

  it("filters by user, task, error code and site change which rows the tables show", async () => {
    const tasks = page.locator("#tasks");
    const clear = async (): Promise<void> => {
      for (const k of ["user", "site", "task", "code"]) await page.fill(`#filter-${k}`, "");
    };
    await clear();
    await expect.poll(async () => (await tasks.textContent()) ?? "").toContain("BOB1");
    await page.fill("#filter-user", "alice");
    await expect.poll(async () => (await tasks.textContent()) ?? "").not.toContain("BOB1");
    expect(await tasks.textContent()).toContain("ALI1");
    await clear();
    await page.fill("#filter-code", String(ERR.PAYLOAD_FAILED));
    await expect.poll(async () => (await tasks.textContent()) ?? "").not.toContain("ALI1");
    expect(await tasks.textContent()).toContain("BOB1");
    expect(await page.locator("#errors").textContent()).toContain("PAYLOAD_FAILED");
    await page.fill("#filter-code", "1203");
    await expect.poll(async () => (await page.locator("#errors").textContent()) ?? "").toContain("no failures");
    await clear();
    await page.fill("#filter-task", "ali1.ops");
    await expect.poll(async () => (await tasks.textContent()) ?? "").not.toContain("BOB1");
    await clear();
    await page.fill("#filter-site", "SITE_B");
    await expect.poll(async () => (await page.locator("#factory").textContent()) ?? "").not.toContain("siteA-local");
    expect(await page.locator("#factory").textContent()).toContain("siteB-condor");
    await clear();
  });

  it("a job page shows each attempt's code and a link to its logs, which shows that attempt's stderr", async () => {
    const jobPage = await browser.newPage();
    await jobPage.goto(`${monitor.url}/task/BOB1`);
    await jobPage.waitForSelector("body[data-ready=true]");
    await jobPage.click('#jobs a[href="/job/BOB1.000000"]');
    await jobPage.waitForSelector("#attempts table");
    const rows = jobPage.locator("#attempts tr");
    expect(await rows.count()).toBe(3);
    expect(await rows.nth(1).textContent()).toContain(`${ERR.STAGEIN_CHECKSUM_MISMATCH}STAGEIN_CHECKSUM_MISMATCH`);
    expect(await rows.nth(2).textContent()).toContain(`${ERR.PAYLOAD_FAILED}PAYLOAD_FAILED`);
    await jobPage.click("text=log of attempt 2");
    await expect.poll(async () => (await jobPage.textContent("body")) ?? "").toContain("Traceback: ZeroDivisionError in calib.py");
    expect(await jobPage.textContent("body")).not.toContain("adler32 mismatch");
    await jobPage.close();
  });
});
