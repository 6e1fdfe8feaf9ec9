// Tokens and one-time keys are stored only as SHA-256 hashes: a Redis dump does not hand out
// usable secrets. They are 32 random bytes, so a plain (unsalted) hash cannot be brute-forced.
import { createHash, randomBytes } from "node:crypto";

export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function secretHash(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}
