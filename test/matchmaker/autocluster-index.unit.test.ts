// The matchmaker's in-memory view of a site's autoclusters: adverts read it without a Redis round
// trip (and, when it is fresh, without a promise) until it is older than its ttl.
import { describe, expect, it } from "vitest";
import { AutoclusterIndexCache, MAX_INDEXED_SITES } from "../../matchmaker/autocluster-index.ts";
import type { AutoclusterKey } from "../../jobs/index.ts";

const key = { userDn: "/CN=a" } as unknown as AutoclusterKey;

describe("autocluster index cache", () => {
  it("answers from memory only while the site's index is fresh, and leaves out queues just found empty", async () => {
    let reads = 0;
    const cache = new AutoclusterIndexCache({ autoclusters: () => Promise.resolve((reads++, { ac1: key, ac2: key })) }, 1000, 100);
    expect(cache.liveNow("S", 0)).toBeUndefined();
    expect((await cache.live("S")).map(([ac]) => ac)).toEqual(["ac1", "ac2"]);
    const readAt = Date.now();
    expect(cache.liveNow("S", readAt)?.map(([ac]) => ac)).toEqual(["ac1", "ac2"]);
    cache.markEmpty("S", "ac1", readAt);
    expect(cache.liveNow("S", readAt + 50)?.map(([ac]) => ac)).toEqual(["ac2"]);
    expect(cache.liveNow("S", readAt + 150)?.map(([ac]) => ac)).toEqual(["ac1", "ac2"]);
    // Past the ttl: read again, through live().
    expect(cache.liveNow("S", readAt + 2000)).toBeUndefined();
    expect(reads).toBe(1);
    await cache.live("S", readAt + 2000);
    expect(reads).toBe(2);
  });

  it("remembers at most MAX_INDEXED_SITES sites: adverts naming a new made-up site each do not grow it for good", async () => {
    const reads: string[] = [];
    const cache = new AutoclusterIndexCache({ autoclusters: (site) => Promise.resolve((reads.push(site), {})) }, 60_000, 100);
    const now = Date.now();
    for (let i = 0; i < MAX_INDEXED_SITES; i++) await cache.live(`FAKE_${i}`, now);
    // At the limit, the first is still in memory.
    expect(cache.liveNow("FAKE_0", now)).toEqual([]);
    await cache.live(`FAKE_${MAX_INDEXED_SITES}`, now);
    // One past it, the first is forgotten and read again when asked; the newest is remembered.
    expect(cache.liveNow("FAKE_0", now)).toBeUndefined();
    expect(cache.liveNow(`FAKE_${MAX_INDEXED_SITES}`, now)).toEqual([]);
    expect(cache.liveNow("FAKE_1", now)).toEqual([]);
    await cache.live("FAKE_0", now);
    expect(reads.filter((s) => s === "FAKE_0")).toHaveLength(2);
  });
});
