import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseDataText } from "../platform/config.ts";
import { ERR, WmsError } from "../schemas/index.ts";
import { describeTarget, natsTarget, rabbitTarget, redisTarget } from "../platform/service-targets.ts";

describe("config", () => {
  it("reads a data file of 100,000 keys (the YAML library's duplicate-key check compared each key with every earlier one: a 4 MB task file hung 'wms task submit' for half an hour) and still refuses a duplicate key with its line", () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}: ${i}`);
    const read = parseDataText(keys.join("\n"), "big.yaml") as Record<string, number>;
    expect(Object.keys(read)).toHaveLength(100_000);
    expect(read.k99999).toBe(99999);
    const dup = (text: string): WmsError => {
      try {
        parseDataText(text, "dup.yaml");
      } catch (e) {
        return e as WmsError;
      }
      throw new Error("accepted a duplicate key");
    };
    for (const text of ["a: 1\nb: 2\na: 3\n", "outer:\n  x: 1\n  y: 2\n  x: 3\n", "- {p: 1, p: 2}\n", '{"a": 1, "a": 2}']) {
      const e = dup(text);
      expect(e.code, text).toBe(ERR.BAD_INPUT);
      expect(e.message, text).toMatch(/dup\.yaml: not valid YAML\/JSON \(Map keys must be unique at line \d+, column \d+\)$/);
    }
    // Keys that only look alike are distinct, as the library has them: a number and a string, 1 and 1.0 spelled apart.
    expect(parseDataText('1: a\n"1": b\n', "ok.yaml")).toEqual({ 1: "b" });
  });

  it("defaults to the loopback services", () => {
    const { config, names } = loadConfig({ env: {} });
    expect(config.nats.url).toBe("nats://127.0.0.1:4222");
    expect(config.redis.url).toBe("redis://127.0.0.1:6379");
    expect(config.rabbitmq.url).toBe("amqp://guest:guest@127.0.0.1:5672");
    expect(names.subjects.advert).toBe("wms.match.advert");
    expect(names.bullPrefix).toBe("{wms}");
    expect(config.matchmaker.sites).toEqual([]);
  });

  it("takes an empty WMS_CONFIG as unset, and refuses an empty --config as a usage error naming it", () => {
    expect(loadConfig({ env: { WMS_CONFIG: "" } }).path).toBeUndefined();
    expect(() => loadConfig({ path: "", env: {} })).toThrow(expect.objectContaining({ code: 1008, message: expect.stringContaining("--config '': an empty file name") }));
  });

  it("gives each site its own advert and heartbeat subject, one token even for a dotted site name", () => {
    const { names } = loadConfig({ env: {} });
    expect(names.advertFor("CERN-PROD")).toBe("wms.match.advert.CERN-PROD");
    expect(names.heartbeatFor("UKI.LT2.QMUL")).toBe("wms.match.heartbeat.UKI~LT2~QMUL");
    expect(names.heartbeatFor("UKI.LT2.QMUL")).not.toBe(names.heartbeatFor("UKI_LT2_QMUL"));
  });

  it("reads wms.yaml and lets the environment override the service URLs", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(file, "namespace: prod\nredis:\n  url: redis://10.0.0.5:6379\nnats:\n  url: nats://10.0.0.6:4222\n");
    const { config, names } = loadConfig({ path: file, env: { WMS_NATS_URL: "nats://127.0.0.1:14222" } });
    expect(config.redis.url).toBe("redis://10.0.0.5:6379");
    expect(config.nats.url).toBe("nats://127.0.0.1:14222");
    expect(names.rabbit.reportsExchange).toBe("prod.reports");
  });

  it("refuses an unknown key with code 1002 naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(file, "redis:\n  uri: redis://x\n");
    expect(() => loadConfig({ path: file, env: {} })).toThrow(/1002|configuration.*uri/);
  });

  it("takes a NATS server list, tls://, a Redis cluster and a RabbitMQ failover list, with credentials outside the URLs", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(join(dir, "redis.pw"), "s3cret\n");
    writeFileSync(
      file,
      [
        "nats:",
        "  url: tls://a.example:4222, tls://b.example:4223",
        "  user: mm",
        "  password: pw",
        "redis:",
        "  cluster: { nodes: [ 'redis://r1:7000', 'r2:7001' ] }",
        "  username: wms-matchmaker",
        "  passwordFile: " + join(dir, "redis.pw"),
        "rabbitmq:",
        "  url: amqps://q1:5671,amqps://q2:5671",
        "  username: wms-agents",
        "  vhost: wms",
        "  tls: { ca: /etc/ca.pem }",
      ].join("\n"),
    );
    const { config } = loadConfig({ path: file, env: {} });
    expect(natsTarget(config.nats)).toMatchObject({ servers: ["a.example:4222", "b.example:4223"], tls: true, user: "mm", password: { inline: "pw" } });
    expect(redisTarget(config.redis)).toMatchObject({ cluster: true, nodes: [{ host: "r1", port: 7000 }, { host: "r2", port: 7001 }], username: "wms-matchmaker" });
    expect(rabbitTarget(config.rabbitmq).urls.map((u) => u.toString())).toEqual(["amqps://q1:5671/wms", "amqps://q2:5671/wms"]);
    // What `wms services check` prints: each server with its scheme ("tls://a:4222,b:4223" read as one URL).
    expect(describeTarget("nats", config)).toBe("tls://a.example:4222,tls://b.example:4223");
    expect(describeTarget("redis", config)).toBe("cluster redis://r1:7000,redis://r2:7001");
  });

  it("keeps the file's Redis Cluster when WMS_REDIS_URL is set empty (compose's cluster route), and lets a URL replace it", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(file, "redis:\n  cluster: { nodes: [ 'redis://redis-c1:6379' ] }\n");
    expect(redisTarget(loadConfig({ path: file, env: { WMS_REDIS_URL: "" } }).config.redis)).toMatchObject({ cluster: true, nodes: [{ host: "redis-c1", port: 6379 }] });
    expect(redisTarget(loadConfig({ path: file, env: { WMS_REDIS_URL: "redis://redis:6379" } }).config.redis)).toMatchObject({ cluster: false });
  });

  it("lets WMS_*_PASSWORD_FILE replace an inline password, and refuses both forms in one file (E1002)", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(file, "rabbitmq:\n  url: amqp://127.0.0.1:5672\n  username: u\n  password: inline\n");
    const { config } = loadConfig({ path: file, env: { WMS_RABBITMQ_PASSWORD_FILE: "/run/secrets/rabbit" } });
    expect(rabbitTarget(config.rabbitmq).password).toEqual({ file: "/run/secrets/rabbit" });
    writeFileSync(file, "rabbitmq:\n  username: u\n  password: inline\n  passwordFile: /x\n");
    expect(() => loadConfig({ path: file, env: {} })).toThrow(/E?1002|password or passwordFile, not both/);
  });

  it("merges a role's identity file, resolving its secret files next to it, and refuses one that moves the servers", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const id = join(dir, "identity.yaml");
    writeFileSync(id, "nats: { nkeySeedFile: nats.nk, inboxPrefix: _INBOX.wms.pilot }\nrabbitmq: { username: wms-pilot, passwordFile: rabbitmq.password, declareTopology: false }\n");
    const { config } = loadConfig({ env: { WMS_IDENTITY_FILE: id } });
    expect(config.nats.nkeySeedFile).toBe(join(dir, "nats.nk"));
    expect(config.rabbitmq).toMatchObject({ username: "wms-pilot", passwordFile: join(dir, "rabbitmq.password"), declareTopology: false, url: "amqp://guest:guest@127.0.0.1:5672" });
    // The guest credentials of the default URL are not this identity's: the identity's user wins.
    expect(rabbitTarget(config.rabbitmq)).toMatchObject({ username: "wms-pilot", password: { file: join(dir, "rabbitmq.password") } });
    writeFileSync(id, "redis: { url: redis://evil:6379 }\n");
    expect(() => loadConfig({ env: { WMS_IDENTITY_FILE: id } })).toThrow(/redis.url cannot be set in an identity file/);
  });

  it("refuses a nats.inboxPrefix outside _INBOX. (E1002): services answer only into an inbox, so its requests would wait for replies never sent", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(file, "nats: { inboxPrefix: replies.jane }\n");
    expect(() => loadConfig({ path: file, env: {} })).toThrow(expect.objectContaining({ code: 1002, message: expect.stringMatching(/nats\/inboxPrefix must match pattern "\^_INBOX/) }));
    for (const ok of ["_INBOX", "_INBOX.wms.operator"]) {
      writeFileSync(file, `nats: { inboxPrefix: ${ok} }\n`);
      expect(loadConfig({ path: file, env: {} }).config.nats.inboxPrefix).toBe(ok);
    }
  });

  it("resolves the relative paths of wms.yaml against its own folder, not the working directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "wmscfg-"));
    const file = join(dir, "wms.yaml");
    writeFileSync(join(dir, "identity.yaml"), "nats: { nkeySeedFile: nats.nk }\n");
    writeFileSync(
      file,
      [
        "redis: { passwordFile: secrets/redis.pw, tls: { ca: ../ca.pem } }",
        "pilot: { cert: pki/pilot.cert.pem, key: /abs/pilot.key.pem }",
        "sitesFile: sites.yaml",
        "factoryFile: ./conf/factory.yaml",
        "up: { delegate: [ { cert: users/p.cert.pem, key: users/p.key.pem } ], catalogs: [ catalog.yaml ] }",
      ].join("\n"),
    );
    expect(process.cwd()).not.toBe(dir);
    const { config } = loadConfig({ path: file, env: { WMS_CREDENTIAL_KEYRING: "here/keyring" } });
    expect(config.redis.passwordFile).toBe(join(dir, "secrets/redis.pw"));
    expect(config.redis.tls?.ca).toBe(join(dir, "../ca.pem"));
    expect(config.pilot).toMatchObject({ cert: join(dir, "pki/pilot.cert.pem"), key: "/abs/pilot.key.pem" });
    expect(config.sitesFile).toBe(join(dir, "sites.yaml"));
    expect(config.factoryFile).toBe(join(dir, "conf/factory.yaml"));
    expect(config.up.delegate[0]).toMatchObject({ cert: join(dir, "users/p.cert.pem"), key: join(dir, "users/p.key.pem") });
    expect(config.up.catalogs).toEqual([join(dir, "catalog.yaml")]);
    // The PKI folder's default belongs to the deployment folder too; the environment's paths stay the caller's.
    expect(config.pki.dir).toBe(join(dir, ".wms/pki"));
    expect(config.credentials.keyringFile).toBe("here/keyring");
    // Without a file, the default stays relative to the working directory.
    expect(loadConfig({ env: {} }).config.pki.dir).toBe(".wms/pki");
    // An identity file named relatively is found beside wms.yaml, and its own files beside it.
    writeFileSync(file, "identityFile: identity.yaml\n");
    const withIdentity = loadConfig({ path: file, env: {} }).config;
    expect(withIdentity.identityFile).toBe(join(dir, "identity.yaml"));
    expect(withIdentity.nats.nkeySeedFile).toBe(join(dir, "nats.nk"));
  });
});
