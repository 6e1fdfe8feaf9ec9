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
  // strtod also reads C99 hexadecimal floats: 0x10 is 16, 0x1.8p1 is 3.
  const h = /^\s*([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?/.exec(s);
  if (h && (h[2] !== "" || (h[3] ?? "") !== "")) {
    const frac = h[3] ?? "";
    const mant = parseInt((h[2] + frac) || "0", 16) / 16 ** frac.length;
    const v = mant * 2 ** Number(h[4] ?? 0);
    return h[1] === "-" ? -v : v;
  }
  const m = /^\s*([+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))/i.exec(s);
  if (!m) return null;
  const t = m[1].toLowerCase().replace(/^([+-]?)inf(inity)?$/, "$1Infinity");
  return t.endsWith("nan") ? NaN : Number(t);
}
