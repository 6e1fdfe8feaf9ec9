import { connect as natsConnect } from "nats";
import { Redis } from "ioredis";
import amqp from "amqplib";
import type { WmsConfig } from "../schemas/index.ts";

export type ServiceName = "nats" | "redis" | "rabbitmq";

export interface ServiceStatus {
  readonly service: ServiceName;
  readonly url: string;
  readonly up: boolean;
  readonly latencyMs?: number;
  readonly error?: string;
  /** How to start it on a Debian machine, shown when it is down. */
  readonly howToStart?: string;
}

export const START_COMMANDS: Record<ServiceName, string> = {
  nats: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log   (or: docker compose up -d nats)",
  redis: 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no   (or: docker compose up -d redis)',
  rabbitmq: "rabbitmq-server -detached   (or: docker compose up -d rabbitmq)",
};

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

async function timed(service: ServiceName, url: string, probe: () => Promise<void>): Promise<ServiceStatus> {
  const t0 = performance.now();
  try {
    await probe();
    return { service, url: redact(url), up: true, latencyMs: Math.round((performance.now() - t0) * 10) / 10 };
  } catch (e) {
    const msg = e instanceof Error ? e.message || e.name : String(e);
    return { service, url: redact(url), up: false, error: msg.split("\n")[0], howToStart: START_COMMANDS[service] };
  }
}

export async function checkNats(url: string, timeoutMs = 2000): Promise<ServiceStatus> {
  return timed("nats", url, async () => {
    const u = new URL(url);
    const nc = await natsConnect({ servers: `${u.hostname}:${u.port || 4222}`, timeout: timeoutMs, reconnect: false, maxReconnectAttempts: 0 });
    try {
      await nc.flush();
    } finally {
      await nc.close();
    }
  });
}

export async function checkRedis(url: string, timeoutMs = 2000): Promise<ServiceStatus> {
  return timed("redis", url, async () => {
    const r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    r.on("error", () => undefined);
    try {
      await r.connect();
      const pong = await r.ping();
      if (pong !== "PONG") throw new Error(`unexpected PING reply ${pong}`);
    } finally {
      r.disconnect();
    }
  });
}

export async function checkRabbit(url: string, timeoutMs = 3000): Promise<ServiceStatus> {
  return timed("rabbitmq", url, async () => {
    const conn = await amqp.connect(url, { timeout: timeoutMs });
    conn.on("error", () => undefined);
    await conn.close();
  });
}

export async function checkServices(config: WmsConfig): Promise<ServiceStatus[]> {
  return Promise.all([checkNats(config.nats.url), checkRedis(config.redis.url), checkRabbit(config.rabbitmq.url)]);
}
