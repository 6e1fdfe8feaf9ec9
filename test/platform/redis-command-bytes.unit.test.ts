import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { commandBytes } from "../../platform/redis-command-bytes.ts";

// The corked connection writes commands with commandBytes instead of ioredis's own encoder: Redis
// must read exactly the bytes ioredis would have sent, whatever the arguments hold.
const { Command } = createRequire(import.meta.url)("ioredis") as typeof import("ioredis");

function ioredisBytes(name: string, args: Array<string | Buffer>): Buffer {
  const w = new Command(name, args).toWritable({});
  return typeof w === "string" ? Buffer.from(w) : w;
}

describe("commandBytes", () => {
  const cases: Array<[string, Array<string | Buffer>]> = [
    ["ping", []],
    ["get", ["k"]],
    ["set", ["{ns:s:SITE}:sec:otk:abc", JSON.stringify({ userDn: "/DC=org/CN=Zoë Ünïcode 日本", used: 0 }), "PX", "86400000"]],
    ["evalsha", ["0123456789abcdef0123456789abcdef01234567", "2", "", "key two", "a\r\nb", "9".repeat(10_000)]],
    ["hset", [Buffer.from([0, 1, 2, 255]), Buffer.alloc(0), "€"]],
  ];
  it.each(cases)("writes %s as ioredis does", (name, args) => {
    expect(commandBytes(name, args).equals(ioredisBytes(name, args))).toBe(true);
  });

  it("counts lengths in bytes, not characters, across a power of ten", () => {
    for (const n of [9, 10, 99, 100, 999, 1000]) {
      const arg = "é".repeat(n);
      expect(commandBytes("set", ["k", arg]).toString()).toBe(`*3\r\n$3\r\nset\r\n$1\r\nk\r\n$${2 * n}\r\n${arg}\r\n`);
    }
  });
});
