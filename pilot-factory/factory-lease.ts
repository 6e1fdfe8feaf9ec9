// One process per factory id: two would each submit at the full rate and double it. The lease is
// a Redis key set only if absent, with an expiry the holder keeps pushing out; a crashed factory's
// lease lapses on its own.
import { randomBytes } from "node:crypto";
import os from "node:os";
import type { RedisClient } from "../platform/redis-client.ts";
import { ERR, WmsError, type WireNames } from "../schemas/index.ts";
import { factoryKeys } from "./factory-keys.ts";

const LEASE_MS = 30_000;

// Compare-and-act in one step, so a holder never extends or deletes a lease another process took
// after its own had lapsed.
const RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface FactoryLease {
  /** Gives the lease up (only if still ours). */
  release(): Promise<void>;
}

export async function acquireFactoryLease(redis: RedisClient, names: WireNames, factoryId: string, onLost: () => void): Promise<FactoryLease> {
  const key = factoryKeys(names, factoryId).lease;
  const holder = `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const ok = await redis.set(key, holder, "PX", LEASE_MS, "NX");
  if (ok !== "OK") {
    const other = await redis.get(key);
    throw new WmsError(ERR.FACTORY_ALREADY_RUNNING, `factory '${factoryId}' in namespace ${names.namespace} is held by ${other ?? "another process"}`);
  }
  const timer = setInterval(() => {
    redis
      .eval(RENEW_LUA, 1, key, holder, String(LEASE_MS))
      .then((r) => {
        if (r !== 1) onLost();
      })
      .catch(() => undefined);
  }, LEASE_MS / 3);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await redis.eval(RELEASE_LUA, 1, key, holder);
    },
  };
}
