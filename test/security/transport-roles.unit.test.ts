// The NATS permissions `wms secrets init` writes for the partitioned advert and heartbeat subjects,
// the operator's Redis ACL, and which identities the role table gives no RabbitMQ user.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { configAs, loadConfig } from "../../platform/config.ts";
import { asTheUserNeedsThem, type ServiceStatus } from "../../platform/service-check.ts";
import { ERR, wireNames } from "../../schemas/index.ts";
import { identityRole, natsPermissions, rabbitPermissions, redisAcl, roleWithoutRabbitUser, TRANSPORT_ROLES } from "../../security/index.ts";
import { initTransportSecrets, natsAuthorizationBlock, redisAclLine } from "../../security/transport-secrets.ts";

describe("NATS permissions for per-site subjects", () => {
  const names = wireNames("wms");

  it("lets pilots publish adverts and heartbeats on any one site's subject (and the base one of older pilots), nothing deeper", () => {
    const p = natsPermissions("pilot", names);
    expect(p?.publish).toEqual(expect.arrayContaining(["wms.match.advert", "wms.match.advert.*", "wms.match.heartbeat", "wms.match.heartbeat.*"]));
    expect(p?.publish.some((x) => x.endsWith(".>"))).toBe(false);
    expect(p?.subscribe.some((x) => x.startsWith("wms.match."))).toBe(false);
  });

  it("lets matchmakers subscribe to every site's subjects, publish nothing", () => {
    const p = natsPermissions("matchmaker", names);
    expect(p?.subscribe).toEqual(expect.arrayContaining(["wms.match.advert.*", "wms.match.heartbeat.*"]));
    expect(p?.publish).toEqual([]);
  });

  it("writes them into the server's authorization block", () => {
    const block = natsAuthorizationBlock([{ role: "pilot", nkey: "UPILOT" }], names);
    expect(block).toContain('"wms.match.heartbeat.*"');
    expect(block).not.toContain("wms.match.heartbeat.>");
  });
});

describe("Redis ACL of the operator's wms", () => {
  const names = wireNames("wms");

  it("may spend a factory control's nonce with SET alone (wms factory set with no factory running), never delete one", () => {
    const acl = redisAcl("operator", names);
    expect(acl?.keys).not.toContain("wms:sec:nonce:*");
    expect(acl?.selectors).toEqual([{ keys: ["wms:sec:nonce:*"], commands: ["+set"] }]);
    expect(redisAclLine("operator", names, "pw")).toMatch(/ \(~wms:sec:nonce:\* \+set\)$/);
  });

  it("gives the services no selector: they write the namespace's keys already", () => {
    for (const role of ["intake", "matchmaker", "agents", "credentials", "factory"] as const) expect(redisAcl(role, names)?.selectors).toBeUndefined();
  });
});

describe("wms services check and identities without a RabbitMQ user", () => {
  const dir = mkdtempSync(join(tmpdir(), "wms-roles-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const loaded = loadConfig({ env: { WMS_NAMESPACE: "rolecheck" } });
  const secrets = initTransportSecrets(dir, loaded.names);
  const refused: ServiceStatus[] = [
    { service: "nats", url: "nats://127.0.0.1:4222", up: true, state: "up" },
    { service: "rabbitmq", url: "amqp://127.0.0.1:5672", up: false, state: "auth-failed", code: ERR.SERVICE_AUTH_FAILED, error: "credentials refused" },
  ];

  it("knows each identity `wms secrets init` writes by the role table's names, and which of them the table gives no RabbitMQ user", () => {
    const roles = secrets.roles.map((r) => [r.role, identityRole(loaded.names, configAs(loaded, r.identityFile).config), roleWithoutRabbitUser(loaded.names, configAs(loaded, r.identityFile).config)]);
    expect(roles).toEqual(TRANSPORT_ROLES.map((r) => [r, r, rabbitPermissions(r, loaded.names) === undefined ? r : undefined]));
    expect(roles.filter(([, , without]) => without !== undefined).map(([r]) => r)).toEqual(["intake", "matchmaker", "factory", "monitor", "operator", "pool-leases"]);
  });

  it("counts RabbitMQ's refusal as an answer for a role without a user there, however its identity was given; never for one that needs it", () => {
    // The operator's Redis user named in the environment (no identity file): still the operator.
    const byEnv = loadConfig({ env: { WMS_NAMESPACE: "rolecheck", WMS_REDIS_USERNAME: "rolecheck-operator", WMS_REDIS_PASSWORD: "x" } }).config;
    const operator = asTheUserNeedsThem(refused, roleWithoutRabbitUser(loaded.names, byEnv));
    expect(operator[1]).toMatchObject({ service: "rabbitmq", up: true, state: "up", detail: expect.stringContaining("the operator role holds no RabbitMQ user") });
    // The agents' identity without its RabbitMQ part (an old or edited file): the refusal is a fault.
    const agents = secrets.roles.find((r) => r.role === "agents")!;
    const { rabbitmq: _dropped, ...rest } = parseYaml(readFileSync(agents.identityFile, "utf8")) as Record<string, unknown>;
    const edited = join(agents.dir, "no-rabbit.yaml");
    writeFileSync(edited, stringifyYaml(rest));
    const config = configAs(loaded, edited).config;
    expect(config.rabbitmq.username).toBeUndefined();
    expect(asTheUserNeedsThem(refused, roleWithoutRabbitUser(loaded.names, config))).toEqual(refused);
    // No identity at all (shared services without authentication): reported as it is.
    expect(asTheUserNeedsThem(refused, roleWithoutRabbitUser(loaded.names, loaded.config))).toEqual(refused);
  });
});
