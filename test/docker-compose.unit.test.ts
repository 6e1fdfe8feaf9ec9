import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  healthcheck?: { test: unknown };
  command?: unknown;
}

describe("docker-compose.yml", () => {
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as { services: Record<string, Service> };

  it("runs NATS, Redis with append-only persistence and RabbitMQ on the standard ports, each with a health check", () => {
    const { nats, redis, rabbitmq } = doc.services;
    expect(nats.ports).toContain("${WMS_BIND:-127.0.0.1}:4222:4222");
    // JetStream is not required: nothing uses it (README), so the server runs without it and keeps no data.
    expect(JSON.stringify(nats.command)).not.toContain("-js");
    expect(redis.ports).toContain("${WMS_BIND:-127.0.0.1}:6379:6379");
    expect(JSON.stringify(redis.command)).toMatch(/--appendonly",\s*"yes|--appendonly yes/);
    expect(rabbitmq.ports).toContain("${WMS_BIND:-127.0.0.1}:5672:5672");
    for (const s of [nats, redis, rabbitmq]) expect(s.healthcheck?.test).toBeTruthy();
  });

  it("runs each CMD-SHELL health check in an image with a shell (and wget), so a healthy server becomes healthy", () => {
    // The official nats image without a variant (nats:2.10, nats:latest) is built FROM scratch,
    // nats-server alone (docker-library/official-images, library/nats): no sh, no wget. Its health
    // check could never pass, and every service waiting for NATS to be healthy never started.
    const shellLess = /^nats:([\d.]*|latest|linux|.*scratch)$/;
    const checked = Object.entries(doc.services).filter(([, s]) => Array.isArray(s.healthcheck?.test) && (s.healthcheck.test as unknown[])[0] === "CMD-SHELL");
    expect(checked.map(([name]) => name)).toEqual(expect.arrayContaining(["nats", "nats-1", "nats-2", "nats-3"]));
    for (const [name, s] of checked) expect({ name, image: s.image ?? "built" }).toEqual({ name, image: expect.not.stringMatching(shellLess) });
  });
});

describe("docker-compose.yml runs the whole system", () => {
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as { services: Record<string, Service & { command?: string[] }> };

  it("has the matchmaker, credential cache, intake, agents, factory and monitor, built from the project's Dockerfile", () => {
    for (const name of ["matchmaker", "credentials", "intake", "agents", "factory", "monitor"]) {
      const s = doc.services[name];
      expect(s, name).toBeDefined();
      expect(s.build, name).toBe(".");
    }
  });

  it("starts each service with a real `wms` command of the CLI", async () => {
    const { runCli } = await import("./support/run-cli.ts");
    for (const name of ["matchmaker", "credentials", "intake", "agents", "factory", "monitor"]) {
      const args = (doc.services[name].command ?? []).filter((a, i, all) => a !== "--config" && all[i - 1] !== "--config");
      const words = args.filter((a) => !a.startsWith("-")).slice(0, 2);
      const r = await runCli([...words, "--help"]);
      expect(r.code, `${name}: wms ${words.join(" ")} --help`).toBe(0);
    }
  }, 120_000);
});

describe("deploy/ configuration for the compose deployment", () => {
  it("validates against the schemas the services load it with", async () => {
    const { loadConfig, readDataFile } = await import("../platform/config.ts");
    const { SiteConfig, FactoryConfig } = await import("../schemas/index.ts");
    const dir = new URL("../deploy/", import.meta.url).pathname;
    expect(loadConfig({ path: `${dir}wms.yaml`, env: {} }).config.pki.dir).toBe("/pki");
    expect(SiteConfig.parse(readDataFile(`${dir}sites.yaml`)).sites.map((s) => s.name)).toEqual(["SITE_A", "SITE_B"]);
    expect(FactoryConfig.parse(readDataFile(`${dir}factory.yaml`)).queues).toHaveLength(2);
  });

  it("names the cluster profile's Redis nodes, which WMS_REDIS_URL set empty selects and any URL replaces", async () => {
    // README: point the services at the Redis Cluster with `redis.cluster.nodes` in deploy/wms.yaml
    // and WMS_REDIS_URL set empty; the file named none, so they fell back to a Redis on loopback.
    const { loadConfig } = await import("../platform/config.ts");
    const path = new URL("../deploy/wms.yaml", import.meta.url).pathname;
    const compose = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as { services: Record<string, { profiles?: string[]; command?: string[] }> };
    const nodes = loadConfig({ path, env: { WMS_REDIS_URL: "" } }).config.redis.cluster?.nodes ?? [];
    expect(nodes.length).toBeGreaterThan(0);
    for (const n of nodes) {
      const u = new URL(n);
      expect(compose.services[u.hostname]?.profiles, n).toEqual(["cluster"]);
      expect(compose.services[u.hostname]?.command, n).toContain("--cluster-enabled");
      expect(u.port || "6379", n).toBe("6379");
    }
    // The compose default (bundled, external) is one server, and the cluster is gone from the config.
    const single = loadConfig({ path, env: { WMS_REDIS_URL: "redis://redis:6379" } }).config.redis;
    expect(single.url).toBe("redis://redis:6379");
    expect(single.cluster).toBeUndefined();
  });
});

describe("docker-compose.yml profiles", () => {
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as {
    services: Record<string, Service & { profiles?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { required?: boolean }> }>;
  };
  const selected = (profile: string): string[] => Object.keys(doc.services).filter((n) => doc.services[n].profiles?.includes(profile)).sort();
  const WMS = ["agents", "credentials", "factory", "intake", "matchmaker", "monitor", "pki", "pool-leases"];

  it("'bundled' runs everything but the cluster profile's servers; 'external' only the pilot-wms services, none of NATS, Redis, RabbitMQ", () => {
    expect(selected("bundled")).toEqual(Object.keys(doc.services).filter((n) => !doc.services[n].profiles?.includes("cluster")).sort());
    expect(selected("external")).toEqual(WMS);
  });

  it("under 'external' the services reach the servers named by WMS_*_URL and do not wait for ones that are not there", () => {
    for (const name of WMS.filter((n) => n !== "pki")) {
      const s = doc.services[name];
      expect(s.environment?.WMS_NATS_URL, name).toMatch(/^\$\{WMS_NATS_URL:-nats:\/\/nats:4222\}$/);
      // Its default only when unset: set empty, the services keep deploy/wms.yaml's redis.cluster.nodes
      // (the cluster route), which a URL, the default included, replaces.
      expect(s.environment?.WMS_REDIS_URL, name).toBe("${WMS_REDIS_URL-redis://redis:6379}");
      expect(s.environment?.WMS_RABBITMQ_URL, name).toMatch(/^\$\{WMS_RABBITMQ_URL:-/);
      for (const dep of ["nats", "redis", "rabbitmq"]) expect(s.depends_on?.[dep]?.required, `${name} → ${dep}`).toBe(false);
    }
  });
});

describe("docker-compose.yml exposure and secrets", () => {
  interface Secured extends Service {
    secrets?: Array<{ source: string; target: string }>;
    volumes?: string[];
    environment?: Record<string, string>;
    entrypoint?: string[];
  }
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as { services: Record<string, Secured>; secrets: Record<string, { file: string }> };
  const WMS = ["agents", "credentials", "factory", "intake", "matchmaker", "monitor"];

  it("publishes only what users need, on 127.0.0.1 unless WMS_BIND says otherwise (no monitoring or management ports)", () => {
    const published = Object.entries(doc.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name} ${p}`));
    expect(published.sort()).toEqual(
      ["monitor ${WMS_BIND:-127.0.0.1}:8080:8080", "nats ${WMS_BIND:-127.0.0.1}:4222:4222", "rabbitmq ${WMS_BIND:-127.0.0.1}:5672:5672", "redis ${WMS_BIND:-127.0.0.1}:6379:6379"].sort(),
    );
  });

  it("mounts the CA key only into the one-shot pki service; each service mounts a PKI volume of its own, the monitor none", () => {
    for (const [name, s] of Object.entries(doc.services)) if (name !== "pki") expect(JSON.stringify(s.volumes ?? []), name).not.toContain("pki-ca");
    expect(JSON.stringify(doc.services.pki.volumes)).toContain("pki-ca:/ca");
    const pkiMounts = (name: string): string[] => (doc.services[name].volumes ?? []).filter((v) => v.startsWith("pki"));
    for (const name of ["intake", "matchmaker", "credentials", "agents"]) expect(pkiMounts(name), name).toEqual([`pki-${name}:/pki:ro`]);
    expect(pkiMounts("factory")).toEqual(["pki-factory:/pki:ro"]);
    expect(pkiMounts("monitor")).toEqual([]);
  });

  it("gives each service only its own role's identity, as compose secrets from files; no guest, no secret in the environment", () => {
    for (const name of WMS) {
      const s = doc.services[name];
      const own = (s.secrets ?? []).filter((x) => !x.target.startsWith("/run/secrets/pilot/"));
      expect(own.length, name).toBeGreaterThan(1);
      for (const x of own) expect(x.source.startsWith(`${name}_`) || (name === "credentials" && x.source === "credential_key"), `${name}: ${x.source}`).toBe(true);
      expect(s.environment?.WMS_IDENTITY_FILE, name).toBe("/run/secrets/identity.yaml");
      expect(JSON.stringify(s.environment), name).not.toMatch(/guest|PASSWORD=|WMS_CREDENTIAL_KEY"/);
    }
    // The factory holds the pilots' identity too (to start them with), and nothing of other roles.
    expect(doc.services.factory.secrets?.filter((x) => x.target.startsWith("/run/secrets/pilot/")).map((x) => x.source).sort()).toEqual(["pilot_identity", "pilot_nats_nk", "pilot_rabbitmq_password"]);
    for (const [name, secret] of Object.entries(doc.secrets)) expect(secret.file, name).toMatch(/^\$\{WMS_(SECRETS_DIR|CREDENTIAL_KEY_FILE|RABBITMQ_COOKIE_FILE|REDIS_CLUSTER_ADMIN_FILE):-\.\/\.wms\//);
  });

  it("starts the servers with the user lists `wms secrets init` writes, so no anonymous client gets in", () => {
    expect(JSON.stringify(doc.services.nats.command)).toContain("/run/secrets/nats-auth.conf");
    expect(JSON.stringify(doc.services.redis.command)).toContain("--aclfile");
    expect(JSON.stringify(doc.services.rabbitmq.volumes)).toContain("deploy/rabbitmq.conf");
    expect(readFileSync(new URL("../deploy/rabbitmq.conf", import.meta.url), "utf8")).toContain("definitions.local.path = /run/secrets/rabbitmq-definitions.json");
  });
});


describe("docker-compose.yml cluster profile", () => {
  interface Node extends Service {
    profiles?: string[];
    hostname?: string;
    volumes?: string[];
    entrypoint?: string[];
    secrets?: Array<{ source: string; target: string }>;
  }
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as { services: Record<string, Node>; secrets: Record<string, { file: string }> };
  const inCluster = Object.keys(doc.services).filter((n) => doc.services[n].profiles?.includes("cluster"));
  const named = (prefix: RegExp): string[] => inCluster.filter((n) => prefix.test(n)).sort();

  it("runs six Redis nodes in cluster mode, joined by a one-shot as three masters with a replica each", () => {
    const nodes = named(/^redis-c\d$/);
    expect(nodes).toHaveLength(6);
    for (const n of nodes) expect(JSON.stringify(doc.services[n].command), n).toContain('"--cluster-enabled","yes"');
    // Each loads the users of `wms secrets init`, as the single Redis does, plus the cluster's admin
    // user that replicas and the one-shot authenticate with: no anonymous client gets in.
    for (const n of nodes) expect(JSON.stringify(doc.services[n].entrypoint), n).toContain("--aclfile /data/users.acl --masteruser cluster-admin");
    for (const n of nodes) expect(doc.services[n].secrets?.map((x) => x.source).sort(), n).toEqual(["redis_cluster_admin", "redis_users"]);
    // Each node keeps its own data and cluster state.
    expect(new Set(nodes.map((n) => JSON.stringify(doc.services[n].volumes))).size).toBe(6);
    const create = JSON.stringify(doc.services["redis-cluster-create"].entrypoint);
    expect(create).toContain("--cluster create");
    expect(create).toContain("--cluster-replicas 1");
  });

  it("runs three NATS nodes routed to each other in one named cluster, with the user list", () => {
    const nodes = named(/^nats-\d$/);
    expect(nodes).toEqual(["nats-1", "nats-2", "nats-3"]);
    for (const n of nodes) {
      const cmd = doc.services[n].command as string[];
      expect(cmd[cmd.indexOf("-n") + 1], n).toBe(n);
      expect(cmd[cmd.indexOf("--routes") + 1], n).toBe("nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222");
      expect(cmd, n).toContain("/run/secrets/nats-auth.conf");
    }
  });

  it("runs three RabbitMQ nodes that find each other by host name and share one Erlang cookie file", () => {
    const nodes = named(/^rabbitmq-\d$/);
    expect(nodes).toEqual(["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]);
    const conf = readFileSync(new URL("../deploy/rabbitmq-cluster.conf", import.meta.url), "utf8");
    for (const n of nodes) {
      const s = doc.services[n];
      expect(s.hostname, n).toBe(n);
      expect(conf, n).toContain(`= rabbit@${n}`);
      expect(JSON.stringify(s.volumes), n).toContain("deploy/rabbitmq-cluster.conf");
      expect(s.secrets?.map((x) => x.source).sort(), n).toEqual(["rabbitmq_cookie", "rabbitmq_users"]);
    }
    expect(doc.secrets.rabbitmq_cookie.file).toMatch(/^\$\{WMS_RABBITMQ_COOKIE_FILE:-\.\/\.wms\//);
  });

  it("publishes no port of any cluster node and starts none of them under the other profiles", () => {
    for (const n of inCluster) {
      expect(doc.services[n].ports, n).toBeUndefined();
      expect(doc.services[n].profiles, n).toEqual(["cluster"]);
    }
  });
});

describe("docker-compose.yml pki step", () => {
  const doc = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as {
    services: Record<string, { entrypoint?: string[]; volumes?: string[] }>;
  };

  it("issues an operator certificate factory control accepts, keeps its key and the CA key out of the services' volumes, and gives each service only what it uses", async () => {
    const { loadTrust, pkiShareFiles, readServiceCredentials, SEAL_PURPOSES, verifyChain } = await import("../security/index.ts");
    const root = mkdtempSync(join(tmpdir(), "wms-compose-pki-"));
    try {
      const [sh, flag, script] = doc.services.pki.entrypoint ?? [];
      expect([sh, flag]).toEqual(["sh", "-c"]);
      // The container's mount points, as folders of the temporary root; the CLI from this checkout.
      const local = (script as string).replace(/(?<=^|\s|=)\/(ca|pki-[a-z]+)(?=\/|\s|$)/g, (_m, d: string) => join(root, d));
      // Docker creates a named volume's mount point before the container starts.
      const services = ["intake", "matchmaker", "credentials", "agents"] as const;
      for (const d of ["pki-factory", ...services.map((x) => `pki-${x}`)]) mkdirSync(join(root, d));
      const run = (): void => {
        const r = spawnSync("sh", ["-c", local], { cwd: new URL("..", import.meta.url).pathname, encoding: "utf8", env: { ...process.env, WMS_DEV: "1" }, timeout: 120_000 });
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      };
      run();
      run(); // a restart of the stack re-runs it: nothing is re-issued, the copies are refreshed
      const files = (d: string): string[] => (readdirSync(join(root, d), { recursive: true }) as string[]).sort();
      expect(files("pki-factory")).toEqual(["ca.crl.pem", "ca.pem", "pilot.cert.pem", "pilot.key.pem"]);
      // No volume but the pki step's own sees the CA key; each service's holds its share and nothing else.
      for (const d of readdirSync(root).filter((x) => x !== "ca")) expect(files(d).filter((f) => /ca\.key|users|operator/.test(f)), d).toEqual([]);
      for (const svc of services) {
        const got = files(`pki-${svc}`).filter((f) => !f.startsWith("."));
        const dirs = new Set(got.filter((f) => !f.includes(".")));
        expect(got.filter((f) => !dirs.has(f)), svc).toEqual([...pkiShareFiles(svc)].sort());
        // Its seal keys are those of the purposes it is an end of, and none other.
        const seals = got.filter((f) => f.startsWith("seals/")).map((f) => f.slice("seals/".length, -".keys".length));
        expect(seals.sort(), svc).toEqual(Object.entries(SEAL_PURPOSES).filter(([, holders]) => (holders as readonly string[]).includes(svc)).map(([p]) => p).sort());
      }
      expect(files("pki-matchmaker").filter((f) => f.endsWith(".key.pem"))).toEqual(["services/matchmaker.key.pem"]);
      expect(files("pki-agents").filter((f) => f.endsWith(".pem")).sort()).toEqual(["ca.crl.pem", "ca.pem"]);
      // A service's folder is a PKI folder it reads as it read the whole one.
      expect(readServiceCredentials(join(root, "pki-credentials"), "credentials").keyPem).toMatch(/PRIVATE KEY/);
      // The factory's folder alone verifies the operator's certificate as an operator.
      const who = verifyChain([readFileSync(join(root, "ca", "users", "operator.cert.pem"), "utf8")], loadTrust(join(root, "pki-factory")));
      expect(who.roles).toContain("operator");
      expect(who.kind).toBe("user");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    // The factory's pki mount is that folder; deploy/wms.yaml's pilot certificate is in it.
    const factory = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8")) as { services: { factory: { volumes: string[] } } };
    expect(factory.services.factory.volumes).toContain("pki-factory:/pki:ro");
    expect(readFileSync(new URL("../deploy/wms.yaml", import.meta.url), "utf8")).toMatch(/cert: \/pki\/pilot\.cert\.pem/);
  }, 180_000);
});
