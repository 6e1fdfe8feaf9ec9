// Random strings for the per-match path (lock token, nonce, one-time key secret): each
// randomBytes() call costs ~3 µs of fixed overhead for a few bytes, four times per match. One
// randomFillSync of 4 KiB serves ~100 of them; every byte is handed out once and never reused,
// the same trade Node makes for crypto.randomUUID().
import { randomFillSync } from "node:crypto";

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

function take(n: number, encoding: "hex" | "base64url"): string {
  if (n > POOL_SIZE) return randomFillSync(Buffer.alloc(n)).toString(encoding);
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.toString(encoding, offset, offset + n);
  // Handed-out bytes are wiped so no later read of the pool could see them again.
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}

/** `n` random bytes as lowercase hex (2n characters). */
export function randomHex(n: number): string {
  return take(n, "hex");
}

/** `n` random bytes as base64url, unpadded. */
export function randomBase64url(n: number): string {
  return take(n, "base64url");
}
