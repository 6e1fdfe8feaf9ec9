import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adler32, adler32Hex, adler32Start, adler32Update, fileChecksums } from "../../platform/checksums.ts";

const dir = mkdtempSync(join(tmpdir(), "wms-checksums-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Reference values from zlib.adler32 (Python) and RFC 1950's definition.
const VECTORS: Array<[string, Buffer, string]> = [
  ["empty input", Buffer.alloc(0), "00000001"],
  ["one byte", Buffer.from("a"), "00620062"],
  ["'abc'", Buffer.from("abc"), "024d0127"],
  ["'Wikipedia'", Buffer.from("Wikipedia"), "11e60398"],
  ["'message digest'", Buffer.from("message digest"), "29750586"],
  ["256,000 bytes 0..255 repeated (crosses the modulo block)", Buffer.concat(Array.from({ length: 1000 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i)))), "a73b292f"],
  ["100,000 bytes of 0xff (largest sums)", Buffer.alloc(100_000, 0xff), "149a302c"],
];

describe("checksums", () => {
  for (const [what, buf, want] of VECTORS) {
    it(`computes adler32 of ${what} as zlib does`, () => {
      expect(adler32(buf)).toBe(want);
    });
  }

  it("gives the same adler32 when the data arrives in uneven chunks", () => {
    const buf = VECTORS[5][1];
    const st = adler32Start();
    for (let i = 0, step = 1; i < buf.length; i += step, step = (step * 7 + 3) % 9000) adler32Update(st, buf.subarray(i, i + step));
    expect(adler32Hex(st)).toBe("a73b292f");
  });

  it("streams a file and reports its size, adler32 and md5", async () => {
    const body = Buffer.concat([VECTORS[5][1], Buffer.alloc(3_000_000, 0x41)]);
    const path = join(dir, "f.bin");
    writeFileSync(path, body);
    const sums = await fileChecksums(path);
    expect(sums).toEqual({ size: body.length, adler32: adler32(body), md5: createHash("md5").update(body).digest("hex") });
  });

  it("refuses a file that does not exist", async () => {
    await expect(fileChecksums(join(dir, "missing"))).rejects.toThrow(/ENOENT/);
  });
});
