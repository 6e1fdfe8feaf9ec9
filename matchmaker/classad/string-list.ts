// HTCondor's string lists ("a, b,c"): split on any of the delimiter characters, items
// trimmed of white space, empty items dropped (StringTokenIterator / split()).
export function splitStringList(s: string, delims: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (delims.includes(c)) {
      const t = cTrim(cur);
      if (t) out.push(t);
      cur = "";
    } else cur += c;
  }
  const t = cTrim(cur);
  if (t) out.push(t);
  return out;
}

/**
 * Trims C's isspace characters (space, \t \n \v \f \r) only: String.prototype.trim would also
 * take byte 0xA0, the second byte of UTF-8 letters such as "à", off our byte strings.
 */
function cTrim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isCSpace(s.charCodeAt(a))) a++;
  while (b > a && isCSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/**
 * compat_classad.cpp's split(): items are cut at each separator and kept as written (no trimming).
 * Empty items are dropped, except that a run of the same non-space separator keeps one empty item
 * per repeat ("a,,b" is three items) while white space around a separator does not count
 * ("a , b" is two). No separators: the whole string is one item.
 */
export function splitArb(s: string, seps: string): string[] {
  const out: string[] = [];
  let last = 0;
  if (seps.length > 0) {
    let prev = -1;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (!seps.includes(s[i])) continue;
      if (i > last) out.push(s.slice(last, i));
      else if (!isCSpace(prev) && prev === c) out.push("");
      if (!isCSpace(c)) prev = c;
      last = i + 1;
    }
  }
  if (s.length > last) out.push(s.slice(last));
  return out;
}

/** C's isspace in the C locale (-1, EOF, is not). */
function isCSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * fnCall.cpp's split_string_list (stringListsIntersect): strcspn over the delimiters, items kept
 * as written, empty items dropped; no or empty delimiters mean " ,".
 */
export function splitCspn(s: string, delims: string): string[] {
  const d = delims === "" ? " ," : delims;
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i === s.length || d.includes(s[i])) {
      if (i > start) out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  return out;
}

/** sscanf("%lf"): a leading number after white space, or null. */
export function scanDouble(s: string): number | null {
  // strtod also reads C99 hexadecimal floats: 0x10 is 16, 0x1.8p1 is 3.
  const h = /^[ \t\n\v\f\r]*([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?/.exec(s);
  if (h) {
    // glibc's scanf has taken "0x" in and cannot give it back: without a hex digit it fails.
    if (h[2] === "" && (h[3] ?? "") === "") return null;
    const frac = h[3] ?? "";
    const mant = parseInt((h[2] + frac) || "0", 16) / 16 ** frac.length;
    const v = mant * 2 ** Number(h[4] ?? 0);
    return h[1] === "-" ? -v : v;
  }
  const m = /^[ \t\n\v\f\r]*([+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))/i.exec(s);
  if (!m) return null;
  const t = m[1].toLowerCase().replace(/^([+-]?)inf(inity)?$/, "$1Infinity");
  return t.endsWith("nan") ? NaN : Number(t);
}
