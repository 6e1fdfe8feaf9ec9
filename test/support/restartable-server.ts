// One private NATS, RabbitMQ or Redis server that a fault test stops (or kills) and starts again on
// the same port and data folder, so the clients' URLs stay valid and a broker keeps its durable queues
// and persistent messages across the restart (Redis: its append-only file, fsynced once a second as
// production configs have it). The shared loopback services are never touched; the server is
// stopped by its own process group at the end. A RabbitMQ start takes 20-30 s on this machine.
// In a run with authentication on it takes the run's users and TLS certificate (runServerAuth), so
// every client logs in as its role there too; on the shared services it is plain.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPrivateNats, startPrivateRabbit, startPrivateRedis } from "../../platform/local-services.ts";
import { runServerAuth } from "./test-roles.ts";

export type RestartableKind = "nats" | "rabbitmq" | "redis";

export interface RestartableServer {
  readonly kind: RestartableKind;
  /** The URL clients keep using across restarts. */
  readonly url: string;
  /** Stops the server (SIGTERM to its process group, SIGKILL after 10 s); resolves once it exited. */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL to its process group: a crash, no shutdown); resolves once it exited. */
  kill(): Promise<void>;
  /**
   * Freezes the server (SIGSTOP to its process group) until `thaw()`: a stalled node, as a long fork,
   * a swapped-out or paused VM make one. Its sockets stay open, so clients wait instead of reconnecting.
   */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
  /** Starts it again on the same port and data folder; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it if running and deletes its folder. */
  close(): Promise<void>;
}

export async function startRestartableServer(kind: RestartableKind, label: string): Promise<RestartableServer> {
  const root = mkdtempSync(join(tmpdir(), `wms-${kind}-${label}-`));
  const dataDir = join(root, kind);
  const auth = runServerAuth();
  const launch = (port?: number): ReturnType<typeof startPrivateNats> =>
    kind === "nats"
      ? startPrivateNats(dataDir, { port, ...(auth ? { authConfig: auth.natsConfig, tls: auth.tls } : {}) })
      : kind === "redis"
        ? startPrivateRedis(dataDir, { port, appendOnly: true, appendFsync: "everysec", ...(auth ? { aclFile: auth.redisAclFile } : {}) })
        : startPrivateRabbit(dataDir, { port, ...(auth ? { definitionsFile: auth.rabbitDefinitions } : {}) });
  let running: Awaited<ReturnType<typeof startPrivateNats>> | undefined;
  try {
    running = await launch();
  } catch (e) {
    rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    throw e;
  }
  const { url, port } = running;
  return {
    kind,
    url,
    async stop() {
      const r = running;
      running = undefined;
      await r?.stop();
    },
    async kill() {
      const r = running;
      running = undefined;
      await r?.stop("SIGKILL");
    },
    freeze() {
      if (running?.pid !== undefined) process.kill(-running.pid, "SIGSTOP");
    },
    thaw() {
      if (running?.pid !== undefined) process.kill(-running.pid, "SIGCONT");
    },
    async start() {
      if (running) return;
      running = await launch(port);
    },
    async close() {
      const r = running;
      running = undefined;
      // A frozen server would not act on the SIGTERM of its stop.
      try {
        if (r?.pid !== undefined) process.kill(-r.pid, "SIGCONT");
      } catch {
        // already gone
      }
      await r?.stop();
      rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
