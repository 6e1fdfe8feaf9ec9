// A payload at a site without identity switching (it runs as the pilot's own user) hunts for the
// pilot's secrets: its own environment, the pilot's /proc/<pid>/environ, the token file the factory
// handed over, every file in the pilot's folder. The pilot is a real `wms pilot` process started as
// the factory starts it (--token-file), against the real matchmaker, credential cache and agents.
// The test fails if the payload's loot holds the pilot's token or private key.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPilotStage, type PilotStage } from "../support/pilot-stage.ts";
import { roleEnv } from "../support/test-roles.ts";
import { REPO_ROOT, WMS_BIN } from "../support/run-cli.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Nosy Payload";
const SITE = "OFF_SITE";

let stage: PilotStage;

beforeAll(async () => {
  stage = await startPilotStage({ label: "nosy", site: SITE, userDn: USER_DN });
});

afterAll(async () => {
  await stage?.stop();
});

describe("a payload hunting the pilot's secrets at a site without identity switching", () => {
  it("finds neither the pilot's token nor its key: not in its environment, the pilot's /proc environ, the token file or the pilot's folder", async () => {
    const taskId = `t${randomBytes(4).toString("hex")}`;
    const token = await stage.token();
    // As the local adapter hands it over: a 0600 file, named on the pilot's command line.
    const tokenFile = join(stage.root, "pilot-1.token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const loot = [
      'echo "== env"; env',
      'echo "== pilot environ"; tr "\\000" "\\n" < /proc/$PPID/environ',
      'echo "== pilot cmdline"; tr "\\000" " " < /proc/$PPID/cmdline',
      'echo "== token file"; cat "$TOKEN_FILE"',
      'echo "== pilot folder"; find "$PILOT_DIR" -type f -exec cat {} + ',
    ].join("; ");
    const job = stage.shellJob({
      taskId,
      name: "nosy",
      script: `{ ${loot}; } > "$WMS_OUTPUT_DIR/loot.txt" 2>&1; true`,
      environment: { TOKEN_FILE: tokenFile, PILOT_DIR: join(stage.workdir, "pilot-nosy") },
      maxAttempts: 1,
    });
    await stage.enqueue(job);

    const pilot = spawn(process.execPath, [WMS_BIN, "pilot", "--site", SITE, "--work-dir", stage.workdir, "--pilot-id", "pilot-nosy", "--token-file", tokenFile, "--max-empty", "1", "--max-backoff", "0.2", "--json"], {
      cwd: REPO_ROOT,
      // The pilot's own transport identity: what a payload at an `off` site could try to read.
      env: { ...process.env, ...roleEnv("pilot"), WMS_CONFIG: stage.configFile, WMS_NAMESPACE: undefined, WMS_PILOT_TOKEN: undefined },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    pilot.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    pilot.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => pilot.once("exit", resolve));
    expect(code, out).toBe(0);
    await expect.poll(async () => (await stage.store.getJob(job.jobId))?.state, { timeout: 10_000 }).toBe("finished");

    const lootText = readFileSync(join(stage.storage, job.outputDataset, job.jobId, "loot.txt"), "utf8");
    // The payload really looked: it read the pilot's environ and listed the pilot's folder.
    expect(lootText).toContain("== pilot environ");
    expect(lootText).toContain("WMS_CONFIG=");
    expect(lootText).not.toContain(token);
    const keyBody = stage.pilotKeyPem.split("\n").slice(1, 3).join("\n");
    // (The user's proxy in the job folder is the payload's own to use; the pilot's key is not.)
    expect(lootText).not.toContain(keyBody);
    // The token file was gone before the payload started.
    expect(existsSync(tokenFile)).toBe(false);
  }, 90_000);
});
