// What `wms up` leaves on disk for `wms status`/`wms down` may carry the private servers' passwords
// (their URLs) and names the pids `wms down` kills: only its owner may read it, and `wms status`
// never prints a password, in its table or in --json.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runWms } from "../../cli/program.ts";
import { processRef, stateFile, upDir, writeUpState, type UpState } from "../../deployment/up-state.ts";

const dir = mkdtempSync(path.join(tmpdir(), "wms-up-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = "s3cr3t-Passw0rd";
const state: UpState = {
  supervisor: processRef(process.pid),
  configFile: path.join(dir, "wms.yaml"),
  namespace: "upstate",
  status: "running",
  startedAt: Date.now(),
  urls: { nats: `nats://operator:${SECRET}@127.0.0.1:14222`, redis: `redis://operator:${SECRET}@127.0.0.1:16379`, rabbitmq: `amqp://operator:${SECRET}@127.0.0.1:15672` },
  startedServices: ["nats", "redis", "rabbitmq"],
  privateUrls: { redis: `redis://operator:${SECRET}@127.0.0.1:16379` },
  servicePids: [],
  tempDir: undefined,
  monitorUrl: undefined,
  logFile: undefined,
  children: [],
};

async function wms(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    return { code: await runWms(args), stdout };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

describe("wms up's state file", () => {
  it("is readable by its owner only, in a folder only its owner can enter", () => {
    writeUpState(dir, state);
    expect(statSync(stateFile(dir)).mode & 0o777).toBe(0o600);
    expect(statSync(upDir(dir)).mode & 0o777).toBe(0o700);
  });

  it("never reaches 'wms status' output with a password, as a table or as JSON", async () => {
    writeFileSync(path.join(dir, "wms.yaml"), "namespace: upstate\n");
    writeUpState(dir, state);
    const table = await wms(["status", "--config", path.join(dir, "wms.yaml")]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("127.0.0.1:16379");
    expect(table.stdout).not.toContain(SECRET);
    const json = await wms(["status", "--json", "--config", path.join(dir, "wms.yaml")]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { running: boolean; urls: { redis: string }; privateUrls: { redis: string } };
    expect(parsed.running).toBe(true);
    expect(parsed.urls.redis).toBe("redis://operator:***@127.0.0.1:16379");
    expect(parsed.privateUrls.redis).toBe("redis://operator:***@127.0.0.1:16379");
    expect(json.stdout).not.toContain(SECRET);
  });
});
