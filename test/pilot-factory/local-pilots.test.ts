import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAdapter, startFactory, type PilotCommandBuilder } from "../../pilot-factory/index.ts";
import { ERR, SCHEMA_VERSION } from "../../schemas/index.ts";
import { testConfig } from "../support/namespace.ts";
import { openLiveServices, openNatsAs, type LiveServices } from "../support/live-services.ts";
import { RecordingTokens, queueKnobs, silentPilot, testRuntime, waitFor } from "./factory-fixture.ts";

const loaded = testConfig("factorylocal");
const { names } = loaded;
let nc: NatsConnection;
let redis: RedisClient;
let live: LiveServices;
/** The pilots' side: census messages come from pilots. */
let pilots: NatsConnection;
const workDir = mkdtempSync(path.join(os.tmpdir(), "wms-factory-local-"));
const fixture = fileURLToPath(new URL("./fixtures/census-pilot.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

beforeAll(async () => {
  live = await openLiveServices(loaded, "factory-local-test", { as: "factory" });
  ({ nc, redis } = live);
  pilots = await openNatsAs(loaded, "pilot", "factory-local-test-pilots");
});

afterAll(async () => {
  await pilots?.close();
  await live.close();
  rmSync(workDir, { recursive: true, force: true });
});

/** The real command line with the stand-in script in place of bin/wms.mjs's `pilot`: same env, same pilot arguments. */
const standInPilot = (real: PilotCommandBuilder): PilotCommandBuilder => (launch, runtime) => {
  const cmd = real(launch, runtime);
  const pilotArgs = cmd.args.slice(cmd.args.indexOf("pilot") + 1);
  return { command: process.execPath, args: ["--import", "tsx", fixture, ...pilotArgs], env: cmd.env };
};

describe("local adapter with a running factory", () => {
  it("starts detached pilots with a log each and the token only in a file they delete; their census marks them exited and empty", async () => {
    const { pilotCommand } = await import("../../pilot-factory/index.ts");
    const tokens = new RecordingTokens(redis, names);
    // The factory's own environment holds a secret that must not reach pilots.
    const adapter = new LocalAdapter({ env: { PATH: process.env.PATH, HOME: process.env.HOME, WMS_CREDENTIAL_KEY: "do-not-leak" }, cwd: repoRoot });
    const f = await startFactory({
      config: { schemaVersion: SCHEMA_VERSION, factoryId: "fac-local", queues: [queueKnobs({ name: "local", maxPerCycle: 2, tokenUses: 3 })] },
      nc,
      redis,
      names,
      tokens,
      waitingJobs: async () => 2,
      runtime: testRuntime(loaded),
      workDir,
      adapterFor: () => adapter,
      pilotCommand: standInPilot(pilotCommand),
      autoCycle: false,
    });
    try {
      const [r] = await f.cycleOnce();
      expect(r.submitted).toHaveLength(2);
      // Two node processes started through tsx: 11 s for the test in a loaded fresh-clone CI run.
      const counts = await waitFor(
        "both pilots exited",
        async () => {
          const c = await f.census("local");
          return c.exited === 2 ? c : undefined;
        },
        60_000,
      );
      expect(counts).toMatchObject({ submitted: 2, pending: 0, idle: 0, running: 0, exited: 2, emptyPilots: 2 });

      const minted = new Set(tokens.minted.map((t) => createHash("sha256").update(t.token).digest("hex")));
      expect([...adapter.started.keys()]).toEqual(r.submitted);
      for (const p of adapter.started.values()) {
        expect(p.logFile).toBe(path.join(workDir, "fac-local", "local", "logs", `${p.pilotId}.log`));
        const seen = JSON.parse(readFileSync(p.logFile, "utf8").split("\n")[0]) as { pid: number; sid: number; tokenSha256: string; argvHasToken: boolean; envKeys: string[]; tokenFileGone: boolean; credentialKey: string };
        expect(seen.pid).toBe(p.pid);
        // detached: the pilot leads a session of its own, so the factory's Ctrl-C does not reach it.
        expect(seen.sid).toBe(seen.pid);
        expect(minted.has(seen.tokenSha256)).toBe(true);
        expect(seen.argvHasToken).toBe(false);
        // The token came as a file the pilot deleted, never through the environment.
        expect(seen.envKeys).not.toContain("WMS_PILOT_TOKEN");
        expect(seen.tokenFileGone).toBe(true);
        // The command line blanks every service secret the factory may hold.
        expect(seen.credentialKey).toBe("");
      }
      // Each pilot got its own token.
      expect(minted.size).toBe(2);
    } finally {
      await f.stop();
    }
  }, 90_000);

  it("mints tokens the matchmaker can spend exactly tokenUses times, at the queue's site only", async () => {
    const tokens = new RecordingTokens(redis, names);
    const adapter = new LocalAdapter({ env: { PATH: process.env.PATH } });
    const f = await startFactory({
      config: { schemaVersion: SCHEMA_VERSION, factoryId: "fac-tokens", queues: [queueKnobs({ name: "tok", maxPerCycle: 2, tokenUses: 4, pilotLifetimeSec: 120 })] },
      nc,
      redis,
      names,
      tokens,
      waitingJobs: async () => 2,
      runtime: testRuntime(loaded),
      workDir,
      adapterFor: () => adapter,
      pilotCommand: (launch) => ({ command: "/bin/true", args: [], env: { WMS_PILOT_TOKEN: launch.token } }),
      autoCycle: false,
    });
    try {
      await f.cycleOnce();
      expect(tokens.minted).toHaveLength(2);
      for (const t of tokens.minted) {
        expect(t).toMatchObject({ site: "SITE_A", uses: 4, ttlSec: 240 });
        const wrongSite = await tokens.store.consume(t.token, "SITE_B", t.pilotId).catch((e: { code?: number }) => e.code);
        expect(wrongSite).toBe(ERR.SEC_TOKEN_WRONG_SITE);
        // Minted for that pilot: under another pilot's id the token is refused, and spends nothing.
        const wrongPilot = await tokens.store.consume(t.token, "SITE_A", `${t.pilotId}-other`).catch((e: { code?: number }) => e.code);
        expect(wrongPilot).toBe(ERR.SEC_TOKEN_WRONG_PILOT);
        const left: number[] = [];
        for (let i = 0; i < 4; i++) left.push((await tokens.store.consume(t.token, "SITE_A", t.pilotId)).usesLeft);
        expect(left).toEqual([3, 2, 1, 0]);
        const fifth = await tokens.store.consume(t.token, "SITE_A", t.pilotId).catch((e: { code?: number }) => e.code);
        expect(fifth).toBe(ERR.SEC_TOKEN_SPENT);
      }
    } finally {
      await f.stop();
    }
  });

  it("counts a local pilot whose process ended without an exit census as lost, after a grace for late messages", async () => {
    let now = Date.now();
    let waiting = 1;
    const adapter = new LocalAdapter({ env: { PATH: process.env.PATH } });
    const f = await startFactory({
      config: { schemaVersion: SCHEMA_VERSION, factoryId: "fac-vanish", queues: [queueKnobs({ name: "vanish", maxPerCycle: 1, cycleSec: 1 })] },
      nc,
      redis,
      names,
      tokens: new RecordingTokens(redis, names),
      waitingJobs: async () => waiting,
      runtime: testRuntime(loaded),
      workDir,
      adapterFor: () => adapter,
      pilotCommand: silentPilot,
      autoCycle: false,
      clock: () => now,
    });
    try {
      const [r] = await f.cycleOnce();
      expect(r.submitted).toHaveLength(1);
      // The work went elsewhere: no replacement pilot muddies the count below.
      waiting = 0;
      const pid = adapter.started.get(r.submitted[0])?.pid ?? -1;
      await waitFor("the pilot process to end", () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      });
      now += 1000;
      await f.cycleOnce();
      // Seen gone once: still pending, its exit message may be on its way.
      expect(await f.census("vanish")).toMatchObject({ pending: 1, lost: 0 });
      now += 5000;
      await f.cycleOnce();
      expect(await f.census("vanish")).toMatchObject({ pending: 0, exited: 1, lost: 1, emptyPilots: 0 });
    } finally {
      await f.stop();
    }
  });
});
