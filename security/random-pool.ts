// Random bytes for the per-match path (lock token, nonce, one-time key secret, the key's IV): each
// randomBytes() call costs ~3 µs of fixed overhead for a few bytes, four times per match. One
// randomFillSync of 4 KiB serves ~100 of them; every byte is handed out once and never reused,
// the same trade Node makes for crypto.randomUUID().
import { randomFillSync } from "node:crypto";

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

function take<T>(n: number, read: (from: Buffer, start: number, end: number) => T): T {
  if (n > POOL_SIZE) return read(randomFillSync(Buffer.alloc(n)), 0, n);
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = read(pool, offset, offset + n);
  // Handed-out bytes are wiped so no later read of the pool could see them again.
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}

const hex = (b: Buffer, start: number, end: number): string => b.toString("hex", start, end);
const base64url = (b: Buffer, start: number, end: number): string => b.toString("base64url", start, end);
// A copy: the pool's bytes are wiped as they are handed out.
const copy = (b: Buffer, start: number, end: number): Buffer => Buffer.from(b.subarray(start, end));

/** `n` random bytes as lowercase hex (2n characters). */
export function randomHex(n: number): string {
  return take(n, hex);
}

/** `n` random bytes as base64url, unpadded. */
export function randomBase64url(n: number): string {
  return take(n, base64url);
}

/**
 * `n` random bytes written into `target` at `at`, for a caller that keeps a buffer for them (the
 * IV of every encryption to a pilot: a Buffer of its own per match cost more heap than the bytes).
 */
export function randomInto(target: Buffer, at: number, n: number): void {
  if (n > POOL_SIZE) {
    randomFillSync(target, at, n);
    return;
  }
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  pool.copy(target, at, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
}

/** `n` random bytes in a Buffer of their own. */
export function randomBuffer(n: number): Buffer {
  return take(n, copy);
}
