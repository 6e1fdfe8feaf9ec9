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
    // nats.js otherwise captures a stack trace per request for a richer timeout error; our errors
    // are one line with a code, and the capture cost ~5% of a pilot-advert round trip (profiled).
    noAsyncTraces: true,
  });
}

/**
 * BullMQ requires maxRetriesPerRequest null on its connections. Ours are auto-pipelined: commands
 * issued in one tick share one write, and a command sent alone costs Redis ~15 µs of socket work
 * (measured), more than most commands themselves. A BullMQ connection is pipelined only when asked
 * (`pipelined`): the matchmaker's, which only claims (non-blocking moveToActive), extends locks and
 * completes, and never runs a blocking fetch on it.
 */
export function openRedis(config: WmsConfig, opts: { forBullMq?: boolean; lazy?: boolean; pipelined?: boolean } = {}): Redis {
  return new Redis(config.redis.url, {
    maxRetriesPerRequest: opts.forBullMq ? null : 3,
    lazyConnect: opts.lazy ?? false,
    enableAutoPipelining: opts.forBullMq ? opts.pipelined === true : true,
  });
}

export async function openRabbit(config: WmsConfig): Promise<amqp.ChannelModel> {
  return amqp.connect(config.rabbitmq.url, { timeout: 5000 });
}
