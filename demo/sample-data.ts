// The demo's input data: small text files in each site's storage folder, placed so that every
// dataset lives at some sites and not others, which makes data locality visible in the summary.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { adler32 } from "../platform/checksums.ts";

export interface SampleFile {
  lfn: string;
  size: number;
  adler32: string;
  md5: string;
}

export interface SampleDataset {
  name: string;
  files: SampleFile[];
  sites: string[];
}

const WORDS = ["pilot", "proxy", "classad", "matchmaker", "broker", "dataset", "replica", "site", "token", "payload", "gLExec", "myproxy", "panda", "atlas", "queue", "rank", "requirements", "heartbeat", "accounting", "audit"];

/** Deterministic pseudo-random text so reruns produce the same checksums. */
function text(seed: number, words: number): string {
  let x = seed * 2654435761 >>> 0;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.push(WORDS[x % WORDS.length]);
    if (i % 12 === 11) out.push("\n");
  }
  return out.join(" ") + "\n";
}

/**
 * Writes `datasets` datasets of `filesPerDataset` files. Dataset i is held by site i mod n and, for
 * every third dataset, also by the next site — so brokerage has both single and double choices.
 */
export function writeSampleData(opts: { storage: Record<string, string>; datasets: number; filesPerDataset: number; prefix?: string }): SampleDataset[] {
  const sites = Object.keys(opts.storage);
  const out: SampleDataset[] = [];
  for (let d = 0; d < opts.datasets; d++) {
    const name = `${opts.prefix ?? "demo"}.ds${String(d).padStart(3, "0")}`;
    const held = [sites[d % sites.length]];
    if (d % 3 === 2 && sites.length > 1) held.push(sites[(d + 1) % sites.length]);
    const files: SampleFile[] = [];
    for (let f = 0; f < opts.filesPerDataset; f++) {
      const lfn = `${name}/file${String(f).padStart(4, "0")}.txt`;
      const body = Buffer.from(text(d * 100_003 + f, 200 + ((d * 31 + f * 17) % 400)));
      const entry = { lfn, size: body.length, adler32: adler32(body), md5: createHash("md5").update(body).digest("hex") };
      for (const site of held) {
        const path = join(opts.storage[site], lfn);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, body);
      }
      files.push(entry);
    }
    out.push({ name, files, sites: held });
  }
  return out;
}
