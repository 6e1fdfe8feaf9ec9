// `wms secrets init` writes identities nobody else can read, and `wms services check` tells a
// server that refuses our credentials (E1012, AUTH) apart from one that is down (E1003, DOWN).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../platform/local-services.ts";
import { startAuthServers, type AuthServers } from "../support/auth-servers.ts";
import { runCli } from "../support/run-cli.ts";

let s: AuthServers;
const dir = mkdtempSync(join(tmpdir(), "wms-secrets-cli-"));

beforeAll(async () => {
  s = await startAuthServers("secretscli");
});
afterAll(async () => {
  await s?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Check {
  ok: boolean;
  services: Array<{ service: string; state: string; code?: number }>;
}

describe("wms secrets init", () => {
  it("writes one identity per role, secrets readable by the owner only, and refuses to overwrite them", async () => {
    const out = join(dir, "deploy");
    const r = await runCli(["secrets", "init", "--dir", out, "--json"], { env: { WMS_NAMESPACE: "proddeploy" } });
    expect(r.stderr).toBe("");
    const res = JSON.parse(r.stdout) as { roles: Array<{ role: string; identityFile: string; redisUser?: string; rabbitUser?: string }> };
    expect(res.roles.map((x) => x.role)).toEqual(["intake", "matchmaker", "agents", "credentials", "factory", "monitor", "pilot", "operator", "pool-leases"]);
    expect(res.roles.find((x) => x.role === "pilot")?.redisUser).toBeUndefined();
    expect(res.roles.find((x) => x.role === "pilot")?.rabbitUser).toBe("proddeploy-pilot");
    for (const f of ["matchmaker/nats.nk", "matchmaker/redis.password", "agents/rabbitmq.password"]) expect(statSync(join(out, f)).mode & 0o077, f).toBe(0);
    const acl = readFileSync(join(out, "servers", "redis-users.acl"), "utf8");
    expect(acl).toMatch(/^user default off/m);
    expect(acl).not.toContain(readFileSync(join(out, "matchmaker", "redis.password"), "utf8").trim());
    const defs = JSON.parse(readFileSync(join(out, "servers", "rabbitmq-definitions.json"), "utf8")) as { users: Array<{ name: string }> };
    expect(defs.users.map((u) => u.name)).not.toContain("guest");
    const again = await runCli(["secrets", "init", "--dir", out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^wms: error E1008 USAGE: .*already holds transport secrets/);
  });
});

describe("wms services check with authentication on", () => {
  it("says AUTH with E1012 for a server that refuses us and DOWN with E1003 for one that does not answer", async () => {
    const dead = await freePort();
    const env = { WMS_NAMESPACE: s.anonymous.names.namespace, WMS_NATS_URL: s.urls.nats, WMS_REDIS_URL: s.urls.redis, WMS_RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${dead}`, WMS_CONFIG: undefined };
    const json = await runCli(["services", "check", "--json"], { env });
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout) as Check;
    expect(out.services.map((x) => [x.service, x.state, x.code])).toEqual([
      ["nats", "auth-failed", 1012],
      ["redis", "auth-failed", 1012],
      ["rabbitmq", "down", 1003],
    ]);
    const human = await runCli(["services", "check"], { env });
    expect(human.stdout).toMatch(/AUTH\s+nats/);
    expect(human.stdout).toMatch(/AUTH\s+redis/);
    expect(human.stdout).toMatch(/DOWN\s+rabbitmq/);
    expect(human.stdout).toContain("answering but refusing our credentials: nats, redis");
    expect(human.stdout).toContain("not answering: rabbitmq");
  });

  it("connects as a role's identity from WMS_IDENTITY_FILE, or from a password file named in the environment", async () => {
    const env = { WMS_NAMESPACE: s.anonymous.names.namespace, WMS_NATS_URL: s.urls.nats, WMS_REDIS_URL: s.urls.redis, WMS_CONFIG: undefined };
    const matchmaker = s.secrets.roles.find((r) => r.role === "matchmaker");
    const r = await runCli(["services", "check", "--json"], { env: { ...env, WMS_IDENTITY_FILE: matchmaker?.identityFile } });
    const out = JSON.parse(r.stdout) as Check;
    expect(out.services.filter((x) => x.service !== "rabbitmq").map((x) => x.state)).toEqual(["up", "up"]);
    // The same Redis user from the environment: a password file, as container secrets are mounted.
    const pw = join(dir, "redis.pw");
    writeFileSync(pw, readFileSync(join(matchmaker?.dir ?? "", "redis.password")), { mode: 0o600 });
    const r2 = await runCli(["services", "check", "--json"], { env: { ...env, WMS_REDIS_USERNAME: matchmaker?.redisUser, WMS_REDIS_PASSWORD_FILE: pw } });
    expect((JSON.parse(r2.stdout) as Check).services.find((x) => x.service === "redis")?.state).toBe("up");
  });

  it("in a deployment folder holding .wms/secrets, says whose credentials were refused and how to check as the folder's operator, which then answers", async () => {
    const deploy = join(dir, "before-up");
    const dead = await freePort();
    mkdirSync(join(deploy, ".wms"), { recursive: true });
    writeFileSync(join(deploy, "wms.yaml"), JSON.stringify({ namespace: s.anonymous.names.namespace, nats: { url: s.urls.nats }, redis: { url: s.urls.redis }, rabbitmq: { url: `amqp://127.0.0.1:${dead}` } }));
    // The servers were set up from these users, as docker compose sets its servers up from the folder's.
    cpSync(s.secrets.dir, join(deploy, ".wms", "secrets"), { recursive: true });
    const env = { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_NATS_URL: undefined, WMS_REDIS_URL: undefined, WMS_RABBITMQ_URL: undefined, WMS_IDENTITY_FILE: undefined };
    const human = await runCli(["services", "check"], { cwd: deploy, env });
    expect(human.code).toBe(1);
    const lines = human.stdout.trim().split("\n");
    expect(lines[0]).toBe("as wms.yaml's credentials (NATS: none, Redis: none, RabbitMQ: user guest)");
    const next = /'WMS_IDENTITY_FILE=(\.wms\/secrets\/operator\/identity\.yaml) (?:npx )?wms services check'/;
    expect(lines[lines.length - 1]).toMatch(/^E1012 SERVICE_AUTH_FAILED: .*: wms\.yaml's credentials were refused, and \.wms\/secrets holds this deployment's users/);
    expect(lines[lines.length - 1]).toMatch(next);
    const json = JSON.parse((await runCli(["services", "check", "--json"], { cwd: deploy, env })).stdout) as Check & { identity: string; hint?: string };
    expect(json.hint).toMatch(next);
    // Doing what it says: the operator is admitted (it holds no RabbitMQ user; that broker is down here anyway).
    const identity = next.exec(json.hint ?? "")?.[1] ?? "";
    const asOperator = await runCli(["services", "check", "--json"], { cwd: deploy, env: { ...env, WMS_IDENTITY_FILE: identity } });
    const out = JSON.parse(asOperator.stdout) as Check & { identity: string; hint?: string };
    expect(out.identity).toBe("the operator identity in .wms/secrets/operator/identity.yaml");
    expect(out.services.map((x) => [x.service, x.state])).toEqual([["nats", "up"], ["redis", "up"], ["rabbitmq", "down"]]);
    expect(out.hint).toBeUndefined();
  });

  // Five CLI processes, one making a PKI: 13 s of the default 30 s in a loaded fresh-clone CI run.
  it("a command or service without credentials says E1012 in one line, not a client library's error print or E1003", async () => {
    const env = { WMS_NAMESPACE: s.anonymous.names.namespace, WMS_NATS_URL: s.urls.nats, WMS_REDIS_URL: s.urls.redis, WMS_CONFIG: undefined, WMS_IDENTITY_FILE: "" };
    for (const args of [["task", "list"], ["factory", "status"], ["pilot", "list"]]) {
      const r = await runCli(args, { env });
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toEqual([expect.stringMatching(/^wms: error E1012 SERVICE_AUTH_FAILED: .*Redis at redis:\/\/127\.0\.0\.1:\d+ refused user 'default': NOAUTH/)]);
    }
    // The intake refused by NATS at start: the auth code, not "does not answer".
    const pki = join(dir, "pki-refused");
    expect((await runCli(["pki", "init", "--dir", pki])).code).toBe(0);
    const intake = await runCli(["intake", "serve"], { env: { ...env, WMS_PKI_DIR: pki } });
    expect(intake.code).toBe(1);
    expect(intake.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^wms: error E1012 SERVICE_AUTH_FAILED: .*NATS at (nats|tls):\/\/127\.0\.0\.1:\d+ refused our credentials/)]);
  }, 90_000);

  it("refuses a NATS server list with a bad entry at load time with E1002, not a connect error", async () => {
    const r = await runCli(["services", "check"], { env: { WMS_NATS_URL: "nats://127.0.0.1:4222,http://x:1", WMS_CONFIG: undefined } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^wms: error E1002 .*nats\.url: 'http:\/\/x:1' must start with nats:\/\/ or tls:\/\//);
  });
});
