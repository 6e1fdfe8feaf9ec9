// The hash slot a key lands in on a Redis Cluster, computed locally (the claim's WAIT goes to the
// master of that slot): CRC16 of the key's hash tag mod 16384, as Redis documents it.
import { describe, expect, it } from "vitest";
import { keySlot } from "../../platform/redis-client.ts";

describe("keySlot", () => {
  it("gives the slots Redis gives", () => {
    // The cluster specification's CRC16 check value ("123456789" → 0x31C3) and CLUSTER KEYSLOT answers.
    expect(keySlot("123456789")).toBe(0x31c3);
    expect(keySlot("foo")).toBe(12182);
    expect(keySlot("bar")).toBe(5061);
  });

  it("hashes only the first non-empty {tag}", () => {
    expect(keySlot("user:{1000}:following")).toBe(keySlot("1000"));
    expect(keySlot("{}x")).toBe(keySlot("{}x"));
    expect(keySlot("{}x")).not.toBe(keySlot("x"));
    expect(keySlot("a{b}{c}")).toBe(keySlot("b"));
  });
});
