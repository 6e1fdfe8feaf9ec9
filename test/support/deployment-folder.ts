// A folder from `wms init` under a temp folder of its own, for tests that run `wms up`/`down` on it
// as a user would, and the clean-up after them: whatever `wms up` left running (from its state
// file), the namespace's Redis keys and RabbitMQ topology, the folder. The services the folder
// uses are named in its wms.yaml (the test run's, with authentication on), and its `wms` runs get
// none of the test process's WMS_* service variables: a user's other terminal has none, and they
// would override what `wms up` records for the folder's later commands.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { deleteTopology } from "../../agents/reports/index.ts";
import { initDeployment } from "../../deployment/init-deployment.ts";
import { readUpState } from "../../deployment/up-state.ts";
import { sweepLeftovers } from "../../deployment/up.ts";
import { loadConfig, type LoadedConfig } from "../../platform/config.ts";
import { openRabbit, openRedis } from "../../platform/connections.ts";
import { uniqueNamespace } from "./namespace.ts";
import { deleteNamespaceKeys } from "./redis-cleanup.ts";
import { runCli } from "./run-cli.ts";
import { asRole, serviceUrlEnv } from "./test-roles.ts";

export interface DeploymentFolder {
  /** The folder `wms init` writes (known at once; written by `init`). */
  readonly dir: string;
  /** `wms <args>` run in `dir`, with its own wms.yaml (no WMS_CONFIG, WMS_NAMESPACE or WMS_*_URL from the test's environment). */
  wms(args: string[], timeoutMs?: number): ReturnType<typeof runCli>;
  /** `wms init` in a fresh namespace, monitor on a free port. */
  init(o: { matchmakers: number }): void;
  /** Stops what a run left, deletes the namespace's keys (unless its Redis was private and is gone) and topology, and the folder. */
  cleanup(o?: { sharedRedis?: boolean }): Promise<void>;
}

/** A wms.yaml from `wms init` with the `nats:`, `redis:` and `rabbitmq:` URLs of `env` (WMS_*_URL) in place of its own. */
export function withServiceUrls(yaml: string, env: Record<string, string>): string {
  let out = yaml;
  for (const [service, key] of [["nats", "WMS_NATS_URL"], ["redis", "WMS_REDIS_URL"], ["rabbitmq", "WMS_RABBITMQ_URL"]] as const) {
    const url = env[key];
    if (url === undefined) continue;
    const line = new RegExp(`^${service}: \\{ url: "[^"]*" \\}$`, "m");
    if (!line.test(out)) throw new Error(`wms.yaml has no '${service}: { url: ... }' line to replace`);
    out = out.replace(line, `${service}: { url: ${JSON.stringify(url)} }`);
  }
  return out;
}

export function deploymentFolder(label: string): DeploymentFolder {
  const base = mkdtempSync(path.join(tmpdir(), `wms-${label}-`));
  const dir = path.join(base, "grid");
  let loaded: LoadedConfig | undefined;
  return {
    dir,
    wms: (args, timeoutMs = 120_000) => runCli(args, { cwd: dir, env: { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined, WMS_NATS_URL: undefined, WMS_REDIS_URL: undefined, WMS_RABBITMQ_URL: undefined }, timeoutMs }),
    init(o) {
      // The services the folder's `wms` commands reach: the loopback ones, or the test run's.
      const { configFile } = initDeployment({ dir, namespace: uniqueNamespace(label), monitorPort: 0, matchmakers: o.matchmakers });
      writeFileSync(configFile, withServiceUrls(readFileSync(configFile, "utf8"), serviceUrlEnv()));
      loaded = loadConfig({ path: configFile, env: {} });
    },
    async cleanup(o = {}) {
      const left = readUpState(dir);
      if (left) await sweepLeftovers(dir, left, 2000);
      if (loaded) {
        // As the services that made them: keys as a service role, the topology as the agents.
        if (o.sharedRedis ?? true) {
          const redis = openRedis(asRole(loaded, "matchmaker").config);
          await deleteNamespaceKeys(redis, loaded.names.namespace);
          redis.disconnect();
        }
        const conn = await openRabbit(asRole(loaded, "agents").config);
        await deleteTopology(await conn.createChannel(), loaded.names);
        await conn.close();
      }
      rmSync(base, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
