// HTCondor's string lists ("a, b,c"): split on any of the delimiter characters, items
// trimmed of white space, empty items dropped (StringTokenIterator / split()).
export function splitStringList(s: string, delims: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (delims.includes(c)) {
      const t = cur.trim();
      if (t) out.push(t);
      cur = "";
    } else cur += c;
  }
  const t = cur.trim();
  if (t) out.push(t);
  return out;
}

/** sscanf("%lf"): a leading number after white space, or null. */
export function scanDouble(s: string): number | null {
  const m = /^\s*([+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))/i.exec(s);
  if (!m) return null;
  const t = m[1].toLowerCase().replace(/^([+-]?)inf(inity)?$/, "$1Infinity");
  return t.endsWith("nan") ? NaN : Number(t);
}
