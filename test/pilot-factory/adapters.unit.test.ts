import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  CondorAdapter,
  SlurmAdapter,
  condorSubmitDescription,
  pilotCommand,
  slurmBatchScript,
  slurmTime,
  type PilotLaunch,
  type PilotRuntime,
  type SubmitContext,
} from "../../pilot-factory/index.ts";
import { ERR, isWmsError, type FactoryQueue } from "../../schemas/index.ts";

const tmp = mkdtempSync(path.join(os.tmpdir(), "wms-factory-adapters-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const queue: FactoryQueue = {
  name: "siteA-condor",
  site: "SITE_A",
  adapter: "condor",
  targetIdle: 2,
  maxPending: 10,
  maxRunning: 50,
  maxPerCycle: 5,
  pilotsPerMinute: 60,
  cycleSec: 10,
  pilotLifetimeSec: 5400,
  tokenUses: 3,
  emptyAdvertsLimit: 3,
};

const runtime: PilotRuntime = {
  nodePath: "/usr/bin/node",
  wmsBin: "/opt/pilot wms/bin/wms.mjs",
  namespace: "prod",
  configPath: "/etc/wms/wms.yaml",
  serviceUrls: { nats: "nats://10.0.0.1:4222", redis: "redis://10.0.0.1:6379", rabbitmq: "amqp://u:p@10.0.0.1:5672" },
};

const pilots: PilotLaunch[] = [1, 2, 3].map((i) => ({
  pilotId: `siteA-condor.abc.${i}`,
  site: "SITE_A",
  queue: "siteA-condor",
  factoryId: "fac-1",
  token: `tok_${i}_${"x".repeat(40)}`,
  lifetimeSec: 5400,
  maxEmpty: 3,
}));

/** HTCondor's submit language, as much as the description uses: `key = value`, `+Attr = value`, and `queue vars from ( rows )`. */
function parseCondorSubmit(text: string): { keys: Map<string, string>; queueVars: string[]; rows: string[][] } {
  const keys = new Map<string, string>();
  let queueVars: string[] = [];
  const rows: string[][] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const q = /^queue\s+(.+?)\s+from\s+\($/i.exec(line);
    if (q) {
      queueVars = q[1].split(/\s*,\s*/);
      for (i++; i < lines.length && lines[i].trim() !== ")"; i++) rows.push(lines[i].trim().split(/[\s,]+/));
      expect(lines[i]?.trim(), "queue list is closed").toBe(")");
      continue;
    }
    const kv = /^(\+?[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    expect(kv, `line is key = value: ${line}`).not.toBeNull();
    if (kv) keys.set(kv[1].toLowerCase(), kv[2]);
  }
  return { keys, queueVars, rows };
}

/** HTCondor's new-style quoted list ("a 'b c' d") back into items. */
function unquoteCondorList(value: string): string[] {
  expect(value.startsWith('"') && value.endsWith('"')).toBe(true);
  const s = value.slice(1, -1).replace(/""/g, '"');
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === " ") {
      i++;
      continue;
    }
    let item = "";
    if (s[i] === "'") {
      i++;
      while (i < s.length) {
        if (s[i] === "'" && s[i + 1] === "'") {
          item += "'";
          i += 2;
        } else if (s[i] === "'") {
          i++;
          break;
        } else item += s[i++];
      }
    } else while (i < s.length && s[i] !== " ") item += s[i++];
    out.push(item);
  }
  return out;
}

/** `#SBATCH --key=value` directives and the command line of a batch script. */
function parseSbatch(text: string): { shebang: string; directives: Map<string, string>; exec: string } {
  const lines = text.split("\n");
  const directives = new Map<string, string>();
  for (const l of lines) {
    const m = /^#SBATCH\s+--([a-z-]+)=(.*)$/.exec(l);
    if (m) directives.set(m[1], m[2].replace(/^'(.*)'$/, "$1"));
  }
  // sbatch stops reading directives at the first command line.
  const firstCommand = lines.findIndex((l) => l.trim() !== "" && !l.startsWith("#"));
  const lastDirective = lines.map((l) => l.startsWith("#SBATCH")).lastIndexOf(true);
  expect(lastDirective).toBeLessThan(firstCommand);
  return { shebang: lines[0], directives, exec: lines[firstCommand] };
}

function context(queueDir: string, q: FactoryQueue = queue): SubmitContext {
  return { factoryId: "fac-1", queue: q, queueDir, runtime, pilotCommand };
}

/** A stand-in submit tool on a PATH of its own: records its arguments, environment and input file, answers like the real one. */
function fakeTool(name: string, answer: string): { dir: string; record: string } {
  const dir = mkdtempSync(path.join(tmp, `${name}-`));
  const record = path.join(dir, "record.json");
  const script = `#!${process.execPath}
const fs = process.getBuiltinModule("node:fs");
fs.writeFileSync(${JSON.stringify(record)}, JSON.stringify({ argv: process.argv.slice(2), tokenInEnv: process.env.WMS_PILOT_TOKEN ?? null, file: fs.readFileSync(process.argv[2], "utf8") }));
console.log(${JSON.stringify(answer)});
`;
  writeFileSync(path.join(dir, name), script);
  chmodSync(path.join(dir, name), 0o755);
  return { dir, record };
}

describe("HTCondor submit description", () => {
  const text = condorSubmitDescription({ factoryId: "fac-1", queue, pilots, runtime, pilotCommand, logDir: "/var/wms/logs" });
  const parsed = parseCondorSubmit(text);

  it("is a vanilla-universe description that queues one job per pilot with its own id, and its token as a transferred file", () => {
    expect(parsed.keys.get("universe")).toBe("vanilla");
    expect(parsed.keys.get("executable")).toBe("/usr/bin/node");
    expect(parsed.queueVars).toEqual(["PilotId"]);
    expect(parsed.rows).toEqual(pilots.map((p) => [p.pilotId]));
    expect(parsed.keys.get("transfer_input_files")).toBe("/var/wms/logs/$(PilotId).token");
    expect(parsed.keys.get("should_transfer_files")).toBe("YES");
    for (const p of pilots) expect(text).not.toContain(p.token);
  });

  it("runs `wms pilot` for the queue's site with the pilot's id, and never puts the token in the arguments", () => {
    const args = unquoteCondorList(parsed.keys.get("arguments") ?? "");
    expect(args[0]).toBe("/opt/pilot wms/bin/wms.mjs");
    expect(args).toContain("pilot");
    expect(args[args.indexOf("--site") + 1]).toBe("SITE_A");
    expect(args[args.indexOf("--pilot-id") + 1]).toBe("$(PilotId)");
    expect(args[args.indexOf("--walltime") + 1]).toBe("5400");
    expect(args[args.indexOf("--token-file") + 1]).toBe("$(PilotId).token");
    const env = new Map(unquoteCondorList(parsed.keys.get("environment") ?? "").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
    // condor_q -l shows a job's environment to every user of the pool: no token there.
    expect(env.has("WMS_PILOT_TOKEN")).toBe(false);
    expect(env.get("WMS_NAMESPACE")).toBe("prod");
    expect(env.get("WMS_RABBITMQ_URL")).toBe("amqp://u:p@10.0.0.1:5672");
  });

  it("sends each pilot's output and error to its own file and the cluster to one user log", () => {
    expect(parsed.keys.get("output")).toBe("/var/wms/logs/$(PilotId).out");
    expect(parsed.keys.get("error")).toBe("/var/wms/logs/$(PilotId).err");
    expect(parsed.keys.get("log")).toBe("/var/wms/logs/condor.log");
    expect(parsed.keys.get("+wmsfactory")).toBe('"fac-1"');
  });
});

describe("Slurm batch script", () => {
  const script = slurmBatchScript({ factoryId: "fac-1", queue, pilot: pilots[0], runtime, pilotCommand, logDir: "/var/wms/logs", cpusPerPilot: 4, inheritEnv: ["PATH", "HOME"] });
  const parsed = parseSbatch(script.text);

  it("carries the directives sbatch needs: job name, output, time from the pilot lifetime, cpus per task", () => {
    expect(parsed.shebang).toBe("#!/bin/sh");
    expect(parsed.directives.get("job-name")).toBe("wms-pilot-siteA-condor");
    expect(parsed.directives.get("output")).toBe(`/var/wms/logs/${pilots[0].pilotId}.out`);
    expect(parsed.directives.get("time")).toBe("01:30:00");
    expect(parsed.directives.get("cpus-per-task")).toBe("4");
    expect(parsed.directives.get("export")?.split(",")).toEqual(expect.arrayContaining(["PATH", "HOME", "WMS_PILOT_TOKEN", "WMS_NAMESPACE"]));
  });

  it("keeps the token out of the script and hands it to sbatch's environment", () => {
    expect(script.text).not.toContain(pilots[0].token);
    expect(script.submitEnv.WMS_PILOT_TOKEN).toBe(pilots[0].token);
    expect(parsed.exec).toBe(`exec /usr/bin/node '/opt/pilot wms/bin/wms.mjs' --config /etc/wms/wms.yaml --namespace prod pilot --site SITE_A --pilot-id ${pilots[0].pilotId} --queue siteA-condor --factory-id fac-1 --walltime 5400 --max-empty 3`);
  });

  it("writes --time the way Slurm reads it, days included", () => {
    expect(slurmTime(59)).toBe("00:00:59");
    expect(slurmTime(3600)).toBe("01:00:00");
    expect(slurmTime(90061)).toBe("1-01:01:01");
  });
});

describe("batch adapters", () => {
  it("refuse with FACTORY_SUBMIT_TOOL_MISSING and submit nothing where condor_submit and sbatch are not installed", async () => {
    const emptyPath = mkdtempSync(path.join(tmp, "nopath-"));
    for (const adapter of [new CondorAdapter({ env: { PATH: emptyPath } }), new SlurmAdapter({ env: { PATH: emptyPath } })]) {
      expect(adapter.unavailable()?.code).toBe(ERR.FACTORY_SUBMIT_TOOL_MISSING);
      const queueDir = path.join(tmp, `missing-${adapter.kind}`);
      const err = await adapter.submit(pilots, context(queueDir)).catch((e: unknown) => e);
      expect(isWmsError(err) && err.code).toBe(ERR.FACTORY_SUBMIT_TOOL_MISSING);
      expect(isWmsError(err) && err.message).toMatch(adapter.kind === "condor" ? /condor_submit is not on PATH/ : /sbatch is not on PATH/);
    }
  });

  it("call condor_submit where it is installed, with the description file (token readable by the factory only)", async () => {
    const tool = fakeTool("condor_submit", "3 job(s) submitted to cluster 77.");
    const adapter = new CondorAdapter({ env: { PATH: tool.dir } });
    expect(adapter.unavailable()).toBeUndefined();
    const out = await adapter.submit(pilots, context(path.join(tmp, "condor-q")));
    expect(out.submitted).toEqual(pilots.map((p) => p.pilotId));
    expect(adapter.clusters).toEqual(["77"]);
    const rec = JSON.parse(readFileSync(tool.record, "utf8")) as { argv: string[]; file: string };
    expect(rec.argv).toEqual([out.files[0]]);
    expect(parseCondorSubmit(rec.file).rows).toHaveLength(3);
    const fs = await import("node:fs");
    expect(fs.statSync(out.files[0]).mode & 0o077).toBe(0);
    for (const p of pilots) {
      const tokenFile = path.join(tmp, "condor-q", "logs", `${p.pilotId}.token`);
      expect(fs.readFileSync(tokenFile, "utf8")).toBe(p.token);
      expect(fs.statSync(tokenFile).mode & 0o077).toBe(0);
    }
  });

  it("call sbatch where it is installed, once per pilot, with the token in a 0600 file only", async () => {
    const tool = fakeTool("sbatch", "Submitted batch job 4242");
    const adapter = new SlurmAdapter({ env: { PATH: tool.dir } });
    const out = await adapter.submit([pilots[1]], context(path.join(tmp, "slurm-q"), { ...queue, adapter: "slurm" }));
    expect(out.submitted).toEqual([pilots[1].pilotId]);
    expect(adapter.jobIds).toEqual(["4242"]);
    const rec = JSON.parse(readFileSync(tool.record, "utf8")) as { argv: string[]; tokenInEnv: string | null; file: string };
    expect(rec.tokenInEnv).toBeNull();
    const tokenFile = path.join(tmp, "slurm-q", "logs", `${pilots[1].pilotId}.token`);
    expect(readFileSync(tokenFile, "utf8")).toBe(pilots[1].token);
    expect(parseSbatch(rec.file).exec).toContain(`--token-file ${tokenFile}`);
    expect(rec.argv.join(" ")).not.toContain(pilots[1].token);
    expect(rec.file).not.toContain(pilots[1].token);
    expect(parseSbatch(rec.file).directives.get("time")).toBe("01:30:00");
  });

  it("list a pilot sbatch refused as failed, with sbatch's message, and delete its token file", async () => {
    const dir = mkdtempSync(path.join(tmp, "failing-sbatch-"));
    writeFileSync(path.join(dir, "sbatch"), "#!/bin/sh\necho 'sbatch: error: Invalid partition name specified' >&2\nexit 1\n");
    chmodSync(path.join(dir, "sbatch"), 0o755);
    const out = await new SlurmAdapter({ env: { PATH: dir } }).submit([pilots[0]], context(path.join(tmp, "slurm-refused-q"), { ...queue, adapter: "slurm" }));
    expect(out.submitted).toEqual([]);
    expect(out.failed).toEqual([{ pilotId: pilots[0].pilotId, message: expect.stringContaining("Invalid partition name") }]);
    expect(existsSync(path.join(tmp, "slurm-refused-q", "logs", `${pilots[0].pilotId}.token`))).toBe(false);
  });

  it("report a failing submit tool as FACTORY_SUBMIT_FAILED with its message", async () => {
    const dir = mkdtempSync(path.join(tmp, "failing-"));
    writeFileSync(path.join(dir, "condor_submit"), "#!/bin/sh\necho 'ERROR: cannot find address of local schedd' >&2\nexit 1\n");
    chmodSync(path.join(dir, "condor_submit"), 0o755);
    const err = await new CondorAdapter({ env: { PATH: dir } }).submit(pilots, context(path.join(tmp, "fail-q"))).catch((e: unknown) => e);
    expect(isWmsError(err) && err.code).toBe(ERR.FACTORY_SUBMIT_FAILED);
    expect(isWmsError(err) && err.message).toContain("local schedd");
  });
});

describe("the pilot's command line and environment", () => {
  it("hands pilots their own identity and blanks every service secret the factory may hold", () => {
    const line = pilotCommand(pilots[0], { ...runtime, identityFile: "/etc/wms/secrets/pilot/identity.yaml" });
    expect(line.env.WMS_IDENTITY_FILE).toBe("/etc/wms/secrets/pilot/identity.yaml");
    for (const v of ["WMS_REDIS_PASSWORD", "WMS_REDIS_PASSWORD_FILE", "WMS_NATS_NKEY_SEED_FILE", "WMS_RABBITMQ_PASSWORD", "WMS_CREDENTIAL_KEY"]) expect(line.env[v], v).toBe("");
    // Without a pilot identity configured, the factory's own is not passed on either.
    expect(pilotCommand(pilots[0], runtime).env.WMS_IDENTITY_FILE).toBe("");
  });

  it("passes one Redis server's URL on, but none for a Redis Cluster, which the pilot reads from the config file", () => {
    expect(pilotCommand(pilots[0], runtime).env.WMS_REDIS_URL).toBe("redis://10.0.0.1:6379");
    const onCluster = pilotCommand(pilots[0], { ...runtime, serviceUrls: { nats: runtime.serviceUrls.nats, rabbitmq: runtime.serviceUrls.rabbitmq } });
    // Empty, not absent: a WMS_REDIS_URL the factory inherited would replace the cluster otherwise.
    expect(onCluster.env.WMS_REDIS_URL).toBe("");
    expect(onCluster.args).toContain("/etc/wms/wms.yaml");
  });
});
