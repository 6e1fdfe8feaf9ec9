// Private NATS, Redis and (optionally) RabbitMQ servers with authentication on, started from the
// installed binaries with the files `wms secrets init` writes for a fresh namespace: no anonymous
// user, one identity per role. The shared loopback services are never touched. Each server runs
// in a temp folder and is stopped by its own PID at the end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configAs, loadConfig, type LoadedConfig } from "../../platform/config.ts";
import { startPrivateNats, startPrivateRabbit, startPrivateRedis } from "../../platform/local-services.ts";
import { initTransportSecrets, type SecretsInitResult, type TransportRole } from "../../security/index.ts";
import { uniqueNamespace } from "./namespace.ts";

export interface AuthServers {
  readonly secrets: SecretsInitResult;
  /** The deployment's config with no identity (anonymous): what an outsider would connect with. */
  readonly anonymous: LoadedConfig;
  /** The same config as one role's identity. */
  as(role: TransportRole): LoadedConfig;
  readonly urls: { readonly nats: string; readonly redis: string; readonly rabbitmq?: string };
  /** How long each server took to answer, in ms (RabbitMQ's start is the slow one). */
  readonly startMs: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

export async function startAuthServers(label: string, o: { rabbit?: boolean } = {}): Promise<AuthServers> {
  const namespace = uniqueNamespace(label);
  const root = mkdtempSync(join(tmpdir(), `wms-auth-${label}-`));
  const base0 = loadConfig({ path: undefined, env: { WMS_NAMESPACE: namespace } });
  const secrets = initTransportSecrets(join(root, "secrets"), base0.names);
  const stops: Array<() => Promise<void>> = [];
  const startMs: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    startMs[name] = Math.round(performance.now() - t0);
    return r;
  };
  try {
    // Settled, not all: a server that started while the other failed must be stopped too.
    const [n, r] = await Promise.allSettled([
      timed("nats", () => startPrivateNats(join(root, "nats"), { authConfig: secrets.natsConfig })),
      timed("redis", () => startPrivateRedis(join(root, "redis"), { aclFile: secrets.redisAclFile })),
    ]);
    for (const x of [n, r]) if (x.status === "fulfilled") stops.push(x.value.stop);
    if (n.status === "rejected") throw n.reason;
    if (r.status === "rejected") throw r.reason;
    const [nats, redis] = [n.value, r.value];
    let rabbitUrl: string | undefined;
    if (o.rabbit) {
      const rabbit = await timed("rabbitmq", () => startPrivateRabbit(join(root, "rabbitmq"), { definitionsFile: secrets.rabbitDefinitions }));
      stops.push(rabbit.stop);
      rabbitUrl = rabbit.url;
    }
    const anonymous = loadConfig({
      path: undefined,
      env: { WMS_NAMESPACE: namespace, WMS_NATS_URL: nats.url, WMS_REDIS_URL: redis.url, ...(rabbitUrl ? { WMS_RABBITMQ_URL: rabbitUrl } : {}) },
    });
    const identities = new Map(secrets.roles.map((r) => [r.role, r.identityFile]));
    return {
      secrets,
      anonymous,
      as: (role) => configAs(anonymous, identities.get(role) ?? ""),
      urls: { nats: nats.url, redis: redis.url, ...(rabbitUrl ? { rabbitmq: rabbitUrl } : {}) },
      startMs,
      stop: async () => {
        await Promise.all(stops.map((s) => s()));
        rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      },
    };
  } catch (e) {
    await Promise.all(stops.map((s) => s()));
    rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    throw e;
  }
}
