// The identity switch for real: the test creates a local account, maps the user's DN to it with a
// grid-mapfile, and lets a pilot running as root start payloads through site-authz's switch.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, type AuditRecord, type Report, type StateReport } from "../../schemas/index.ts";
import { AccountMapper, processesOf } from "../../site-authz/index.ts";
import { createProxy, issueCertificate } from "../../security/index.ts";
import { identitySwitchLauncher, runPilot, type PilotOptions } from "../../agents/pilot/index.ts";
import { createUser, removeUser } from "../site-authz/support/local-users.ts";
import { pilotFixture, USER_DN, type PilotFixture } from "./support/pilot-fixture.ts";

const mapDir = mkdtempSync(path.join(os.tmpdir(), "pilot-gridmap-"));
const gridmap = path.join(mapDir, "grid-mapfile");
let fx: PilotFixture;
let user: { name: string; uid: number; gid: number };

beforeAll(async () => {
  user = createUser("wmsp");
  writeFileSync(gridmap, `"${USER_DN}" ${user.name}\n`);
  fx = await pilotFixture("pilotswitch", { identitySwitch: "required", mapping: [{ type: "gridmap", file: gridmap }] });
  // Every ancestor of a job dir must be searchable by the mapped account (site-authz checks it).
  chmodSync(fx.root, 0o711);
  chmodSync(fx.workdir, 0o711);
});
afterAll(async () => {
  await fx?.close();
  if (user) removeUser(user.name);
  rmSync(mapDir, { recursive: true, force: true });
});

function switchingPilot(pilotId: string): PilotOptions {
  const reports = fx.publisher();
  const audit = (r: Report): Promise<void> => reports.publish(r);
  const mapper = new AccountMapper({ site: fx.site, names: fx.names, node: os.hostname(), audit });
  return {
    nc: fx.nc,
    names: fx.names,
    reports,
    credentials: fx.credentials,
    trust: fx.trust,
    site: fx.site,
    token: "switch-token-0123456789abcdef",
    workdir: fx.workdir,
    pilotId,
    env: { PATH: process.env.PATH },
    maxEmpty: 1,
    maxBackoffSec: 0.05,
    heartbeatSec: 0.3,
    memoryPollMs: 100,
    killGraceMs: 300,
    keepJobDirs: true,
    switchLauncher: identitySwitchLauncher({ site: fx.site, trust: fx.trust, mapper, audit }),
  };
}

const isState = (jobId: string, state: string) => (r: Report): r is StateReport => r.kind === "state" && r.jobId === jobId && r.state === state;

describe("pilot identity switch", () => {
  it("runs the payload as the mapped account, which can write its job dir but not read the pilot's secrets", async () => {
    const pilotId = `pilot-switch-${process.pid}-a`;
    const secrets = path.join(fx.workdir, pilotId, "secrets");
    const job = fx.job({
      environment: { SECRETS: secrets },
      arguments: [
        "-c",
        [
          'o="$WMS_OUTPUT_DIR"',
          'id -u > "$o/uid.txt"',
          'if cat "$SECRETS/token" >/dev/null 2>&1; then echo readable; else echo denied; fi > "$o/token.txt"',
          'if ls "$SECRETS" >/dev/null 2>&1; then echo listable; else echo denied; fi > "$o/secrets-dir.txt"',
          'echo scratch > scratch.txt && echo ok > "$o/write.txt"',
          'stat -c "%u %a" "$X509_USER_PROXY" > "$o/proxy.txt"',
          'echo "$X509_USER_PROXY" > "$o/proxy-path.txt"',
        ].join("; "),
      ],
    });
    fx.offer(job);
    const summary = await runPilot(switchingPilot(pilotId));
    expect(summary.results).toEqual([expect.objectContaining({ status: "finished" })]);

    const out = (f: string): string => readFileSync(path.join(fx.storage, job.outputDataset, job.jobId, f), "utf8").trim();
    expect(Number(out("uid.txt"))).toBe(user.uid);
    expect(out("token.txt")).toBe("denied");
    expect(out("secrets-dir.txt")).toBe("denied");
    expect(out("write.txt")).toBe("ok");
    expect(out("proxy.txt")).toBe(`${user.uid} 600`);

    // Afterwards: the proxy is gone and the job dir belongs to the pilot again.
    const jobDir = path.join(fx.workdir, pilotId, "jobs", `${job.jobId}.1`);
    expect(existsSync(out("proxy-path.txt"))).toBe(false);
    expect(statSync(jobDir).uid).toBe(process.getuid?.());
    expect(statSync(path.join(jobDir, "scratch.txt")).uid).toBe(process.getuid?.());

    const audit = (await fx.reports.waitFor((r) => r.kind === "audit" && r.event === "identity-switch" && r.jobId === job.jobId)) as AuditRecord;
    expect(audit.localAccount).toBe(user.name);
    expect(audit.dn).toBe(USER_DN);
    expect(audit.pilotId).toBe(pilotId);
    expect(audit.endedAt).toBeGreaterThanOrEqual(audit.startedAt ?? 0);
  });

  it("deletes the credentials and leaves no process of the account when the payload is killed", async () => {
    const pilotId = `pilot-switch-${process.pid}-b`;
    const job = fx.job({ walltimeSec: 1, arguments: ["-c", "(sleep 30 &); sleep 30"] });
    fx.offer(job);
    const summary = await runPilot(switchingPilot(pilotId));
    expect(summary.jobsFailed).toBe(1);
    const failed = await fx.reports.waitFor(isState(job.jobId, "failed"));
    expect(failed.errorCode).toBe(ERR.PAYLOAD_WALLTIME_EXCEEDED);
    const jobDir = path.join(fx.workdir, pilotId, "jobs", `${job.jobId}.1`);
    expect(existsSync(path.join(jobDir, ".x509up"))).toBe(false);
    expect(statSync(jobDir).uid).toBe(process.getuid?.());
    expect(await processesOf(user.uid)).toEqual([]);
  });

  it("runs nothing when the proxy it is given is not the job submitter's (MyProxy error 2400)", async () => {
    const marker = path.join(fx.root, "mismatch-ran");
    const user2 = issueCertificate({ caDir: fx.pkiDir, kind: "user", dn: "/DC=org/DC=pilot-wms/OU=pilot-wms/CN=Mallory", roles: [] });
    const proxy = createProxy({ certPem: user2.certPem, keyPem: user2.keyPem, lifetimeSec: 600 });
    const launcher = switchingPilot("pilot-switch-dn").switchLauncher;
    const job = fx.job({ arguments: ["-c", `touch ${marker}`] });
    const jobDir = mkdtempSync(path.join(fx.workdir, "dn-"));
    const attempt = launcher?.({
      job,
      lockToken: "lease-of-pilot-switch-dn",
      submitterDn: USER_DN,
      pilotId: "pilot-switch-dn",
      site: fx.site,
      jobDir,
      env: {},
      proxyPem: proxy.certPem + proxy.keyPem + proxy.chain.slice(1).join(""),
      pilotSecretsDir: jobDir,
      node: os.hostname(),
    });
    await expect(attempt).rejects.toMatchObject({ code: ERR.MYPROXY_DN_MISMATCH });
    expect(existsSync(marker)).toBe(false);
  });
});
