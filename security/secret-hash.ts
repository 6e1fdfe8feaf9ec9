// Tokens and one-time keys are stored only as SHA-256 hashes: a Redis dump does not hand out
// usable secrets. They are 32 random bytes, so a plain (unsalted) hash cannot be brute-forced.
import { createHash } from "node:crypto";
import { randomBase64url } from "./random-pool.ts";

export function newSecret(): string {
  return randomBase64url(32);
}

export function secretHash(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}
