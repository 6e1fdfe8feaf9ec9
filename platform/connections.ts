// The three transports, opened in one place with the settings every service wants, and passed in
// to the parts that use them. Core modules never import this file.
import { connect as natsConnect, type NatsConnection } from "nats";
import { Redis } from "ioredis";
import amqp from "amqplib";
import type { WmsConfig } from "../schemas/index.ts";

export async function openNats(config: WmsConfig, name = "wms"): Promise<NatsConnection> {
  const u = new URL(config.nats.url);
  return natsConnect({
    servers: `${u.hostname}:${u.port || 4222}`,
    name,
    user: u.username || undefined,
    pass: u.password || undefined,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
}

/** BullMQ requires maxRetriesPerRequest null on its connections. */
export function openRedis(config: WmsConfig, opts: { forBullMq?: boolean; lazy?: boolean } = {}): Redis {
  return new Redis(config.redis.url, {
    maxRetriesPerRequest: opts.forBullMq ? null : 3,
    lazyConnect: opts.lazy ?? false,
    enableAutoPipelining: !opts.forBullMq,
  });
}

export async function openRabbit(config: WmsConfig): Promise<amqp.ChannelModel> {
  return amqp.connect(config.rabbitmq.url, { timeout: 5000 });
}
