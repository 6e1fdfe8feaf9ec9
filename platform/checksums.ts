// File checksums as the replica catalog records them and the pilot checks them on stage-in/out:
// size, adler32 (the grid's usual transfer checksum) and md5. Node's zlib computes adler32
// internally but does not expose it, so it is written here; md5 comes from node:crypto.
import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";

const MOD = 65521;
// The largest n with 255·n·(n+1)/2 + (n+1)·(MOD−1) < 2^32 (zlib's NMAX): the sums may run that many
// bytes before a modulo, which keeps the inner loop free of divisions.
const NMAX = 5552;

/** Running adler32 state: feed chunks with `adler32Update`, read with `adler32Hex`. */
export interface Adler32State {
  a: number;
  b: number;
}

export function adler32Start(): Adler32State {
  return { a: 1, b: 0 };
}

export function adler32Update(state: Adler32State, buf: Uint8Array): Adler32State {
  let { a, b } = state;
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const end = Math.min(i + NMAX, n);
    for (; i < end; i++) {
      a += buf[i];
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  state.a = a;
  state.b = b;
  return state;
}

export function adler32Hex(state: Adler32State): string {
  return (((state.b << 16) | state.a) >>> 0).toString(16).padStart(8, "0");
}

/** adler32 of a whole buffer as 8 lower-case hex digits, the catalog's form. */
export function adler32(buf: Uint8Array | string): string {
  const bytes = typeof buf === "string" ? Buffer.from(buf) : buf;
  return adler32Hex(adler32Update(adler32Start(), bytes));
}

export interface FileChecksums {
  size: number;
  adler32: string;
  md5: string;
}

/** Streams the file once, computing both checksums, so a large input never sits in memory. */
export async function fileChecksums(path: string): Promise<FileChecksums> {
  const md5 = createHash("md5");
  const ad = adler32Start();
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    size += buf.length;
    md5.update(buf);
    adler32Update(ad, buf);
  }
  return { size, adler32: adler32Hex(ad), md5: md5.digest("hex") };
}
