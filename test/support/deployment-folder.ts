// A folder from `wms init` under a temp folder of its own, for tests that run `wms up`/`down` on it
// as a user would, and the clean-up after them: whatever `wms up` left running (from its state
// file), the namespace's Redis keys and RabbitMQ topology, the folder.
import { mkdtempSync, rmSync } from "node:fs";
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
  /** `wms <args>` run in `dir`, with its own wms.yaml (no WMS_CONFIG or WMS_NAMESPACE from the test's environment). */
  wms(args: string[], timeoutMs?: number): ReturnType<typeof runCli>;
  /** `wms init` in a fresh namespace, monitor on a free port. */
  init(o: { matchmakers: number }): void;
  /** Stops what a run left, deletes the namespace's keys (unless its Redis was private and is gone) and topology, and the folder. */
  cleanup(o?: { sharedRedis?: boolean }): Promise<void>;
}

export function deploymentFolder(label: string): DeploymentFolder {
  const base = mkdtempSync(path.join(tmpdir(), `wms-${label}-`));
  const dir = path.join(base, "grid");
  let loaded: LoadedConfig | undefined;
  return {
    dir,
    wms: (args, timeoutMs = 120_000) => runCli(args, { cwd: dir, env: { WMS_CONFIG: undefined, WMS_NAMESPACE: undefined }, timeoutMs }),
    init(o) {
      // The services the folder's `wms` commands reach: the loopback ones, or the test run's.
      loaded = loadConfig({ path: initDeployment({ dir, namespace: uniqueNamespace(label), monitorPort: 0, matchmakers: o.matchmakers }).configFile, env: serviceUrlEnv() });
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
      rmSync(base, { recursive: true, force: true });
    },
  };
}
