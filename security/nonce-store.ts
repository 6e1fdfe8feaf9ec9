// Envelope nonces seen by pilots, shared through Redis so a replay is caught even by another
// pilot process on the node. SET NX is the check and the record in one atomic step.
import type { RedisClient } from "../platform/redis-client.ts";
import type { WireNames } from "../schemas/index.ts";

// Kept a little past the envelope's expiry: after that the envelope is refused as expired anyway.
const SKEW_MS = 5 * 60_000;

export class NonceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
    private readonly clock: () => number = Date.now,
  ) {}

  /** True the first time a nonce is seen; shaped for verifyEnvelope's `isNonceNew`. */
  readonly isNonceNew = async (nonce: string, expiresAt: number): Promise<boolean> => {
    const ttl = Math.max(1000, expiresAt - this.clock() + SKEW_MS);
    const r = await this.redis.set(this.names.redisKey("sec", "nonce", nonce), "1", "PX", ttl, "NX");
    return r === "OK";
  };
}
