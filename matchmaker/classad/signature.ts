// A stable key for "these ads look the same to these expressions": the given attributes
// (case-insensitive, order-insensitive) with their unparsed expressions. Autoclusters and
// match caches use it; unparse never prints a raw newline, so "\n" cannot be forged.
import type { ClassAd } from "./classad.ts";
import { unparse } from "./unparse.ts";

export function signature(ad: ClassAd, attrs: readonly string[]): string {
  const names = [...new Set(attrs.map((a) => a.toLowerCase()))].sort();
  return names
    .map((n) => {
      const e = ad.lookup(n);
      return e ? `${n}=${unparse(e)}` : `${n}!`;
    })
    .join("\n");
}
