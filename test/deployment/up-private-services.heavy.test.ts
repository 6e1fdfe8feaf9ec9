// A new user's flow where wms.yaml names a NATS, a Redis and a RabbitMQ that do not answer:
// `wms init`, `wms up --detach` (which starts private servers on free ports, data in a temporary
// folder, with authentication on: the users of `wms secrets init`, which it runs the first time,
// each service connecting as its own role), then, as from another terminal with no flags and no environment, `wms status`,
// `wms services check`, `wms task submit` of an example task and `wms task status --watch`; `wms down` stops every process
// `wms up` started, the private servers and RabbitMQ's port mapper included, and deletes the folder.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../platform/local-services.ts";
import { checkNats, checkRabbit, checkRedis } from "../../platform/service-check.ts";
import { isAlive, readUpState, type ProcessRef } from "../../deployment/up-state.ts";
import { deploymentFolder } from "../support/deployment-folder.ts";

const grid = deploymentFolder("upprivate");
const { dir, wms } = grid;

beforeAll(() => grid.init({ matchmakers: 1 }), 120_000);

afterAll(() => grid.cleanup({ sharedRedis: false }), 60_000);

describe("wms up where the services named in wms.yaml do not answer", () => {
  it("runs on private servers that other wms commands find without flags, and wms down stops all it started", async () => {
    const dead = { nats: `nats://127.0.0.1:${await freePort()}`, redis: `redis://127.0.0.1:${await freePort()}`, rabbitmq: `amqp://guest:guest@127.0.0.1:${await freePort()}` };
    const file = path.join(dir, "wms.yaml");
    let yaml = readFileSync(file, "utf8");
    for (const [s, url] of Object.entries(dead)) yaml = yaml.replace(new RegExp(`^${s}: \\{ url: "[^"]*" \\}$`, "m"), `${s}: { url: "${url}" }`);
    expect(yaml).toContain(dead.rabbitmq);
    writeFileSync(file, yaml);

    const up = await wms(["up", "--detach"], 300_000);
    expect(up.code, up.stderr).toBe(0);
    const state = readUpState(dir);
    expect(state?.startedServices.map((s) => s.split(" ")[0]).sort()).toEqual(["nats", "rabbitmq", "redis"]);
    expect(state?.tempDir && existsSync(state.tempDir)).toBe(true);
    expect(state?.urls.redis).not.toBe(dead.redis);

    // Nobody gets in anonymously: each server answers and refuses a client without an identity.
    const urls = state?.urls as { nats: string; redis: string; rabbitmq: string };
    const anonymous = await Promise.all([checkNats(urls.nats), checkRedis(urls.redis), checkRabbit(urls.rabbitmq.replace(/\/\/[^@/]*@/, "//"))]);
    expect(anonymous.map((s) => `${s.service} ${s.state}`)).toEqual(["nats auth-failed", "redis auth-failed", "rabbitmq auth-failed"]);
    expect(urls.rabbitmq).not.toMatch(/guest/);
    // The identities were made in the deployment's folder; other commands use the operator's.
    const secrets = path.join(dir, ".wms", "secrets");
    expect(existsSync(path.join(secrets, "servers", "nats-auth.conf"))).toBe(true);
    expect(state?.cliIdentityFile).toBe(path.join(secrets, "operator", "identity.yaml"));
    // Each service process runs as its own role; the factory hands its pilots the pilot role's.
    const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    for (const c of state?.children ?? []) {
      const role = c.name.replace(/-\d+$/, "");
      expect(environ(c.pid as number), c.name).toContain(`WMS_IDENTITY_FILE=${path.join(secrets, role, "identity.yaml")}`);
    }
    const factory = state?.children.find((c) => c.name === "factory");
    expect(environ(factory?.pid as number)).toContain(`WMS_PILOT_IDENTITY_FILE=${path.join(secrets, "pilot", "identity.yaml")}`);

    // Another terminal: the same folder, nothing but its wms.yaml.
    const status = await wms(["status"]);
    expect(status.stdout).toContain(`nats ${state?.urls.nats}, redis ${state?.urls.redis}`);
    // The operator's identity holds no RabbitMQ user (its commands never use RabbitMQ): the broker's
    // refusal of it is no failure of the deployment.
    const check = await wms(["services", "check"]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain("all services answer");
    const cert = ["--cert", "pki/users/production.cert.pem", "--key", "pki/users/production.key.pem"];
    const sub = await wms(["task", "submit", "tasks/simple-job.yaml", ...cert]);
    expect(sub.code, sub.stderr).toBe(0);
    const taskId = sub.stdout.trim();
    const w = await wms(["task", "status", taskId, "--watch", "--json", "--interval", "0.5"], 240_000);
    const final = JSON.parse(w.stdout.trim().split("\n").pop() as string) as { counts: { finished: number }; failedJobs: unknown[] };
    expect(final.failedJobs).toEqual([]);
    expect(final.counts.finished).toBe(1);
    const jobId = `${taskId}.000000`;
    expect(["SITE_A", "SITE_B"].filter((s) => existsSync(path.join(dir, "storage", s, "examples.simple.out", jobId, "hello.txt")))).toHaveLength(1);

    // Every process up started: its supervisor, the services, and the private servers (RabbitMQ's epmd too).
    const now = readUpState(dir);
    const everything: ProcessRef[] = [now?.supervisor as ProcessRef, ...(now?.servicePids ?? []), ...(now?.children ?? []).map((c) => ({ pid: c.pid as number, startTicks: c.startTicks }))];
    expect(now?.servicePids).toHaveLength(4);
    expect(now?.servicePids.some((p) => /epmd/.test(readFileSync(`/proc/${p.pid}/cmdline`, "utf8")))).toBe(true);
    const down = await wms(["down"], 180_000);
    expect(down.code, down.stderr).toBe(0);
    for (const p of everything) expect(isAlive(p), `pid ${p.pid}`).toBe(false);
    expect(existsSync(state?.tempDir as string)).toBe(false);
    expect(readUpState(dir)).toBeUndefined();
    // With nothing running, the commands use wms.yaml's URLs again: the dead ones, refused in one line with a code.
    const after = await wms(["task", "status", taskId], 60_000);
    expect(after.code).not.toBe(0);
    expect(after.stderr.trim().split("\n")).toHaveLength(1);
    expect(after.stderr).toMatch(/^wms: error E\d{4} /);
  }, 600_000);
});
