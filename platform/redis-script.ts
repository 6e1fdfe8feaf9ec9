// One way to run our Lua scripts: EVALSHA, falling back to EVAL when the server has not seen the
// script (first use, or after a restart / failover flushed the script cache). Unlike ioredis'
// defineCommand, this is an ordinary command, so it is safe on auto-pipelined connections (a
// pipeline created before defineCommand would lack the custom command and fail).
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export interface RedisScript {
  readonly sha: string;
  run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>;
}

export function redisScript(lua: string): RedisScript {
  const sha = createHash("sha1").update(lua).digest("hex");
  return {
    sha,
    async run(redis, keys, args) {
      try {
        return await redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (e) {
        if (!(e instanceof Error) || !e.message.startsWith("NOSCRIPT")) throw e;
        return redis.eval(lua, keys.length, ...keys, ...args);
      }
    },
  };
}
