// Three matchmaker processes (the real `wms matchmaker`), 200 concurrent pilots, 20,000 jobs:
// every job is dispatched exactly once, none is lost, none is left queued.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvelopeBody, type JobSpec } from "../../schemas/index.ts";
import { createJobs } from "./fixtures.ts";
import { TestPilot } from "./pilot-client.ts";
import { startHarness, type Harness } from "./service-harness.ts";
import { WMS_BIN } from "../support/run-cli.ts";
import { roleEnv } from "../support/test-roles.ts";

const JOBS = 20_000;
const SITES = 10;
const PILOTS = 200;
const MATCHMAKERS = 3;

let h: Harness;
const children: ChildProcess[] = [];

beforeAll(async () => {
  h = await startHarness("scaleout", { serve: false });
});

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          const t = setTimeout(() => c.kill("SIGKILL"), 5000);
          c.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          c.kill("SIGTERM");
        }),
    ),
  );
  await h.close();
});

function startMatchmakers(configPath: string): Promise<void> {
  const ready: Array<Promise<void>> = [];
  for (let i = 0; i < MATCHMAKERS; i++) {
    const c = spawn(process.execPath, [WMS_BIN, "--config", configPath, "matchmaker"], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, ...roleEnv("matchmaker") } });
    children.push(c);
    ready.push(
      new Promise((resolve, reject) => {
        let err = "";
        c.stderr?.on("data", (d: Buffer) => {
          err += d.toString();
          if (err.includes("matchmaker listening")) resolve();
        });
        c.once("exit", (code) => reject(new Error(`matchmaker exited ${code}: ${err.slice(-2000)}`)));
      }),
    );
  }
  return Promise.all(ready).then(() => undefined);
}

describe("scale-out", () => {
  it(`dispatches ${JOBS} jobs exactly once through ${MATCHMAKERS} matchmakers to ${PILOTS} pilots`, { timeout: 600_000 }, async () => {
    const configPath = join(h.pkiDir, "wms.yaml");
    writeFileSync(
      configPath,
      JSON.stringify({ namespace: h.loaded.config.namespace, pki: { dir: h.pkiDir }, logLevel: "info", matchmaker: { nomatchBackoffSec: 0.05 } }),
    );
    const specs: JobSpec[] = [];
    for (let s = 0; s < SITES; s++) {
      for (const cores of [1, 2]) specs.push(...(await createJobs(h.store, { site: `SCALE_${s}`, cores, taskId: `scale${s}c${cores}` }, JOBS / SITES / 2)));
    }
    await h.dispatch.enqueue(specs);
    expect(await h.dispatch.waitingCount("SCALE_0")).toBe(JOBS / SITES);
    await startMatchmakers(configPath);

    const dispatched = new Map<string, number>();
    let done = 0;
    const pilots = await Promise.all(Array.from({ length: PILOTS }, async (_, i) => new TestPilot(h.nc, h.loaded.names, `SCALE_${i % SITES}`, await h.token(`SCALE_${i % SITES}`, 10_000))));
    let checkedSignature = false;
    let unanswered = 0;
    const deadline = Date.now() + 560_000;
    const started = Date.now();
    await Promise.all(
      pilots.map(async (p) => {
        let emptyInARow = 0;
        while (Date.now() < deadline && done < JOBS && emptyInARow < 20) {
          // Unanswered, as a real pilot's advert is when it waited in a matchmaker longer than a
          // pilot waits (dropped with nothing claimed, matchmaker.maxAdvertsInFlight): asked again.
          const reply = await p.advertise({}, 20_000).catch((e: Error) => {
            if (e.message !== "TIMEOUT") throw e;
            return undefined;
          });
          if (reply === undefined) {
            unanswered++;
            continue;
          }
          if (reply.status === "error") throw new Error(`advert refused: ${reply.code} ${reply.message}`);
          if (reply.status === "nomatch") {
            emptyInARow++;
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          emptyInARow = 0;
          // One full verification proves the envelopes; the rest are read for their job id only.
          const body = checkedSignature ? EnvelopeBody.parseJson(reply.envelope.body) : p.open(reply, h.trust);
          checkedSignature = true;
          expect(body.job.site).toBe(p.site);
          dispatched.set(body.job.jobId, (dispatched.get(body.job.jobId) ?? 0) + 1);
          expect(await h.dispatch.complete(body.job.jobId, body.lockToken)).toBe(true);
          done++;
          if (done % 2000 === 0) process.stderr.write(`scale-out: ${done} jobs dispatched in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        }
      }),
    );

    if (unanswered > 0) process.stderr.write(`scale-out: ${unanswered} adverts unanswered (dropped as stale by a loaded matchmaker) and sent again\n`);
    expect(done).toBe(JOBS);
    expect(dispatched.size).toBe(JOBS);
    expect([...dispatched.values()].every((n) => n === 1)).toBe(true);
    for (const spec of specs) expect(dispatched.has(spec.jobId)).toBe(true);
    for (let s = 0; s < SITES; s++) {
      expect(await h.dispatch.recountWaiting(`SCALE_${s}`)).toBe(0);
      expect((await h.store.siteCounts(`SCALE_${s}`)).sent).toBe(JOBS / SITES);
    }
  });

  it("stops every matchmaker on SIGTERM, each exiting 0 once it has drained", async () => {
    const codes = await Promise.all(
      children.map(
        (c) =>
          new Promise<number | string>((resolve) => {
            if (c.exitCode !== null) return resolve(`already exited ${c.exitCode}`);
            const t = setTimeout(() => resolve("still running 20 s after SIGTERM"), 20_000);
            c.once("exit", (code) => {
              clearTimeout(t);
              resolve(code ?? "killed by a signal");
            });
            c.kill("SIGTERM");
          }),
      ),
    );
    expect(codes).toEqual(children.map(() => 0));
  }, 30_000);
});
