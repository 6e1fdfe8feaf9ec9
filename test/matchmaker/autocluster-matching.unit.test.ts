import { describe, expect, it } from "vitest";
import { autoclusterId, autoclusterKey, bullPriority, type AutoclusterKey } from "../../jobs/index.ts";
import { MatchCache } from "../../matchmaker/match-cache.ts";
import { orderCandidates } from "../../matchmaker/match-ranking.ts";
import { makeSpec } from "./fixtures.ts";
import { machineAd } from "./pilot-client.ts";

const base = { taskId: "t1", site: "S" };

describe("autoclusters", () => {
  it("groups jobs that differ only in what matching ignores, and splits on anything it reads", () => {
    const a = makeSpec(base, 1);
    const b = { ...makeSpec({ ...base, taskId: "t2" }, 7), executable: "/bin/other", inputFiles: [] };
    expect(autoclusterId(autoclusterKey(a))).toBe(autoclusterId(autoclusterKey(b)));
    for (const change of [{ priority: 5 }, { cores: 4 }, { memoryMb: 99 }, { requirements: "TARGET.Cpus > 1" }, { rank: "1" }, { userDn: "/CN=other" }, { vo: "cms" }]) {
      expect(autoclusterId(autoclusterKey({ ...a, ...change }))).not.toBe(autoclusterId(autoclusterKey(a)));
    }
    expect(autoclusterId(autoclusterKey(a))).toMatch(/^[0-9a-f]{16}$/);
  });

  it("maps higher task priority to an earlier BullMQ priority, within BullMQ's range", () => {
    expect(bullPriority(10000)).toBe(1);
    expect(bullPriority(500)).toBeLessThan(bullPriority(10));
    expect(bullPriority(-1000)).toBeLessThanOrEqual(2 ** 21);
    expect(bullPriority(-5000)).toBe(bullPriority(-1000));
  });
});

describe("match cache", () => {
  const key = (over: Partial<AutoclusterKey> = {}): AutoclusterKey => ({ ...autoclusterKey(makeSpec(base, 0)), ...over });

  it("decides once for identical pilots whose ads differ only in attributes no one reads", () => {
    const cache = new MatchCache();
    const k = key({ requirements: "TARGET.Memory >= 8000", rank: "TARGET.Cpus" });
    const d1 = cache.decideFor(cache.machineAd(machineAd({ pilotId: "p1", site: "S" })), "ac1", k);
    const d2 = cache.decideFor(cache.machineAd(machineAd({ pilotId: "p2", site: "S" })), "ac1", k);
    expect(d1).toEqual({ match: true, jobRank: 8 });
    expect(d2).toEqual(d1);
    expect(cache.misses).toBe(1);
    expect(cache.hits).toBe(1);
    const bigger = cache.decideFor(cache.machineAd(machineAd({ pilotId: "p3", site: "S", cpus: 32 })), "ac1", k);
    expect(bigger).toEqual({ match: true, jobRank: 32 });
    expect(cache.misses).toBe(2);
  });

  it("requires both sides' Requirements to be exactly true", () => {
    const cache = new MatchCache();
    const small = cache.machineAd(machineAd({ pilotId: "p", site: "S", memoryMb: 4000 }));
    expect(cache.decideFor(small, "needs-mem", key({ requirements: "TARGET.Memory >= 8000" })).match).toBe(false);
    expect(cache.decideFor(small, "too-big", key({ memoryMb: 6000 })).match).toBe(false);
    expect(cache.decideFor(small, "undefined-attr", key({ requirements: "TARGET.NoSuchThing > 1" })).match).toBe(false);
    expect(cache.decideFor(small, "unparsable", key({ requirements: "((" })).match).toBe(false);
    expect(cache.decideFor(small, "fits", key({ memoryMb: 2000 })).match).toBe(true);
  });
});

describe("candidate order", () => {
  it("puts task priority first, then the lighter user, then the higher job Rank", () => {
    const k = (priority: number, userDn: string): AutoclusterKey => ({ ...autoclusterKey(makeSpec(base, 0)), priority, userDn });
    const usage: Record<string, number> = { "/CN=heavy": 1000, "/CN=light": 1 };
    const ordered = orderCandidates(
      [
        { ac: "a", key: k(10, "/CN=light"), jobRank: 100 },
        { ac: "b", key: k(50, "/CN=heavy"), jobRank: 100 },
        { ac: "c", key: k(50, "/CN=light"), jobRank: 1 },
        { ac: "d", key: k(50, "/CN=light"), jobRank: 5 },
      ],
      (dn) => usage[dn] ?? 0,
    );
    expect(ordered.map((c) => c.ac)).toEqual(["d", "c", "b", "a"]);
  });
});
