// HTCondor's natural_cmp (natural_cmp.cpp, strverscmp-like), used by versioncmp() and the version* functions.
// Returns the same raw differences as the C code, since versioncmp() exposes them.
const isDigitAt = (s: string, i: number): boolean => {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
};
// natural_cmp.cpp returns `*s1 - *s2` on plain chars, which are signed on the platforms HTCondor
// builds for: a byte of 0x80 or more (UTF-8 text) counts as negative, below every ASCII byte.
const at = (s: string, i: number): number => {
  if (i >= s.length) return 0;
  const c = s.charCodeAt(i);
  return c >= 128 ? c - 256 : c;
};

export function naturalCompare(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (at(a, i) === at(b, i)) return 0;
  let n = i;
  while (n > 0 && isDigitAt(a, n - 1)) n--;
  if (n === i && (!isDigitAt(a, i) || !isDigitAt(b, i))) return at(a, i) - at(b, i);
  let z1 = n;
  while (at(a, z1) === 48) z1++;
  let z2 = n;
  while (at(b, z2) === 48) z2++;
  if (z1 > n && !isDigitAt(a, z1)) z1--;
  if (z2 > n && !isDigitAt(b, z2)) z2--;
  if (z1 - n !== z2 - n) return z2 - n - (z1 - n);
  if (z1 > n) return at(a, i) - at(b, i);
  let e1 = z1;
  while (isDigitAt(a, e1)) e1++;
  let e2 = z2;
  while (isDigitAt(b, e2)) e2++;
  if (e1 - n !== e2 - n) return e1 - n - (e2 - n);
  return at(a, i) - at(b, i);
}
