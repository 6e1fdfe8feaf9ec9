import { describe, expect, it } from "vitest";
import { randomBase64url, randomBuffer, randomHex } from "../../security/index.ts";

describe("random pool", () => {
  it("hands out strings of the asked length that never repeat, across pool refills", () => {
    const seen = new Set<string>();
    // 20,000 × 16 bytes is ~80 refills of the 4 KiB pool.
    for (let i = 0; i < 20_000; i++) {
      const h = randomHex(16);
      expect(h).toMatch(/^[0-9a-f]{32}$/);
      seen.add(h);
    }
    expect(seen.size).toBe(20_000);
    expect(randomBase64url(32)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomHex(5000)).toHaveLength(10_000);
  });

  it("is not a counter: bits are balanced across many draws", () => {
    let ones = 0;
    const n = 2000;
    for (let i = 0; i < n; i++) for (const c of Buffer.from(randomHex(8), "hex")) for (let b = 0; b < 8; b++) ones += (c >> b) & 1;
    const ratio = ones / (n * 64);
    expect(ratio).toBeGreaterThan(0.48);
    expect(ratio).toBeLessThan(0.52);
  });

  it("hands out Buffers of their own: a later draw or refill does not change or repeat one", () => {
    const first = randomBuffer(12);
    const kept = Buffer.from(first);
    const seen = new Set<string>([first.toString("hex")]);
    for (let i = 0; i < 2000; i++) seen.add(randomBuffer(12).toString("hex"));
    expect(first.equals(kept)).toBe(true);
    expect(first.equals(Buffer.alloc(12))).toBe(false);
    expect(seen.size).toBe(2001);
  });
});
