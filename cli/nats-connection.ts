// Every command that talks to a service opens NATS and Redis the same way: a server that does not
// answer is one line with SERVICE_UNAVAILABLE and the URL tried, one that refuses our credentials
// one line with SERVICE_AUTH_FAILED; never a stack trace or a client library's own error print.
import type { NatsConnection } from "nats";
import { ERR, WmsError, type WmsConfig } from "../schemas/index.ts";
import type { RedisOpenOptions } from "../platform/connections.ts";
import type { Logger } from "../platform/logger.ts";
import type { RedisClient } from "../platform/redis-client.ts";
import { describeTarget } from "../platform/service-targets.ts";

/** `logger`: a service's, which then logs the connection's losses and reconnections (logNatsStatus). */
export async function connectNats(config: WmsConfig, clientName: string, logger?: Logger): Promise<NatsConnection> {
  // Imported here so `wms --help` does not load the NATS client.
  const { openNats, isNatsAuthRefusal, logNatsStatus } = await import("../platform/connections.ts");
  try {
    const nc = await openNats(config, clientName);
    if (logger !== undefined) logNatsStatus(nc, logger);
    return nc;
  } catch (e) {
    if (e instanceof WmsError) throw e;
    if (isNatsAuthRefusal(e)) throw new WmsError(ERR.SERVICE_AUTH_FAILED, `NATS at ${config.nats.url} refused our credentials: ${(e as Error).message}`);
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `NATS at ${config.nats.url}: ${(e as Error).message}`);
  }
}

/**
 * Redis, connected and past its ready check before any command is sent. ioredis reports a refused
 * login as an `error` event (printed raw when nobody listens) and then only "Connection is closed";
 * the event's reason is what tells a refusal from a server that is down. `onError`: what to do with
 * errors of the open connection later (a service logs them); commands fail on their own anyway.
 */
export async function connectRedis(config: WmsConfig, o: Omit<RedisOpenOptions, "lazy"> & { onError?: (e: Error) => void } = {}): Promise<RedisClient> {
  const { openRedis, isRedisAuthRefusal } = await import("../platform/connections.ts");
  const { onError, ...open } = o;
  const redis = openRedis(config, { ...open, lazy: true });
  let reason: unknown;
  const keep = (e: unknown): void => void (reason = e);
  redis.on("error", keep);
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    const why = reason ?? e;
    const msg = why instanceof Error ? why.message : String(why);
    if (isRedisAuthRefusal(why)) throw new WmsError(ERR.SERVICE_AUTH_FAILED, `Redis at ${describeTarget("redis", config)} refused user '${config.redis.username ?? "default"}': ${msg}`);
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `Redis at ${describeTarget("redis", config)}: ${msg}`);
  }
  redis.off("error", keep);
  redis.on("error", onError ?? (() => undefined));
  return redis;
}
