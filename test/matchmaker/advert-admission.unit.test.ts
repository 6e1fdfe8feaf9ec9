// The matchmaker's advert admission on its own (no server): the cap, arrival order, and adverts
// dropped unanswered once they waited longer than a pilot waits for its answer.
import { describe, expect, it } from "vitest";
import { AdvertAdmission } from "../../matchmaker/advert-admission.ts";

function harness(maxInFlight: number, staleMs: number) {
  let clock = 0;
  const pending = new Map<string, () => void>();
  const started: string[] = [];
  const dropped: Array<[string, number]> = [];
  const a = new AdvertAdmission<string>({
    maxInFlight,
    staleMs,
    now: () => clock,
    answer: (id) => {
      started.push(id);
      return new Promise<void>((r) => pending.set(id, r));
    },
    dropped: (id, waited) => dropped.push([id, waited]),
  });
  const finish = async (id: string): Promise<void> => {
    pending.get(id)!();
    pending.delete(id);
    await new Promise((r) => setImmediate(r));
  };
  return { a, started, dropped, finish, tick: (ms: number) => (clock += ms) };
}

describe("advert admission", () => {
  it("answers at most the cap at once and takes the waiting ones in arrival order", async () => {
    const { a, started, finish } = harness(2, 1000);
    for (const id of ["a", "b", "c", "d"]) a.offer(id);
    expect(started).toEqual(["a", "b"]);
    expect([a.inFlight, a.waiting]).toEqual([2, 2]);
    await finish("b");
    expect(started).toEqual(["a", "b", "c"]);
    await finish("a");
    await finish("c");
    await finish("d");
    expect(started).toEqual(["a", "b", "c", "d"]);
    expect([a.inFlight, a.waiting, a.peak]).toEqual([0, 0, 2]);
  });

  it("drops, without answering, an advert that waited longer than the pilot waits, and answers the next", async () => {
    const { a, started, dropped, finish, tick } = harness(1, 1000);
    a.offer("first");
    a.offer("old");
    tick(600);
    a.offer("fresh");
    tick(500);
    await finish("first");
    expect(dropped).toEqual([["old", 1100]]);
    expect(started).toEqual(["first", "fresh"]);
    const idle = a.idle();
    await finish("fresh");
    await idle;
    expect([a.inFlight, a.waiting]).toEqual([0, 0]);
  });

  it("keeps going when an answer throws", async () => {
    const seen: string[] = [];
    const a = new AdvertAdmission<string>({
      maxInFlight: 1,
      staleMs: 1000,
      answer: (id) => {
        seen.push(id);
        if (id === "bad") throw new Error("boom");
        return Promise.resolve();
      },
      dropped: () => undefined,
    });
    a.offer("bad");
    a.offer("good");
    await a.idle();
    expect(seen).toEqual(["bad", "good"]);
  });

  it("refuses a cap that is not a positive integer", () => {
    expect(() => new AdvertAdmission({ maxInFlight: 0, staleMs: 1, answer: () => Promise.resolve(), dropped: () => undefined })).toThrow(/positive integer/);
  });
});
