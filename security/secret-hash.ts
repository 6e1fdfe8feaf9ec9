// Tokens and one-time keys are stored only as SHA-256 hashes: a Redis dump does not hand out
// usable secrets. They are 32 random bytes, so a plain (unsalted) hash cannot be brute-forced.
import { hash } from "node:crypto";
import { randomBase64url } from "./random-pool.ts";

export function newSecret(): string {
  return randomBase64url(32);
}

export function secretHash(secret: string): string {
  // One-shot hash(): two of these per advert, and a Hash object costs more than the hashing.
  return hash("sha256", secret, "hex");
}
