// C's printf("%.<p>E") for finite non-zero doubles, and "%g" (relative times print seconds so). JavaScript's toExponential rounds an exact
// halfway case up, C (glibc) rounds it to even: 3002399751580330.5 is "3.002399751580330E+15"
// in HTCondor, so an exact tie is checked with BigInt arithmetic on the double's binary value.

const view = new DataView(new ArrayBuffer(8));

/** The double as m * 2^k with integer m. */
function binary(x: number): { m: bigint; k: number } {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  return bexp === 0 ? { m: frac, k: -1074 } : { m: frac | (1n << 52n), k: bexp - 1075 };
}

/** Mantissa digits and decimal exponent, rounded half to even like glibc. */
function digitsOf(x: number, precision: number): { digits: string; exp: number } {
  const js = x.toExponential(precision);
  const e = js.indexOf("e");
  const digits = js.slice(0, e).replace(".", "");
  const exp = Number(js.slice(e + 1));
  const exact = x.toExponential(Math.min(precision + 5, 100));
  const tail = exact.slice(precision + 2, exact.indexOf("e"));
  // Only a representation whose next digit is 5 can be a tie; confirm it exactly.
  if (tail[0] !== "5") return { digits, exp };
  const E = Number(exact.slice(exact.indexOf("e") + 1));
  const { m, k } = binary(x);
  const num = m * (k > 0 ? 1n << BigInt(k) : 1n) * (precision - E > 0 ? 10n ** BigInt(precision - E) : 1n);
  const den = (k < 0 ? 1n << BigInt(-k) : 1n) * (E - precision > 0 ? 10n ** BigInt(E - precision) : 1n);
  const q = num / den;
  if ((num % den) * 2n !== den || q % 2n !== 0n) return { digits, exp };
  return { digits: q.toString(), exp: E };
}

/** printf("%1.<precision>E", r) for finite r; zero and non-finite values are the caller's. */
export function cExponent(r: number, precision: number): string {
  const { digits, exp } = digitsOf(Math.abs(r), precision);
  const mant = precision > 0 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp);
  return `${r < 0 ? "-" : ""}${mant}E${exp < 0 ? "-" : "+"}${e < 10 ? "0" + e : e}`;
}

/** printf("%.<precision>g", r) as glibc prints it; a NaN's sign bit is `negNaN` (nan-sign.ts). */
export function cGeneral(r: number, precision = 6, negNaN = false): string {
  if (Number.isNaN(r)) return negNaN ? "-nan" : "nan";
  if (!Number.isFinite(r)) return r < 0 ? "-inf" : "inf";
  if (r === 0) return Object.is(r, -0) ? "-0" : "0";
  const p = precision === 0 ? 1 : precision;
  const { digits, exp } = digitsOf(Math.abs(r), p - 1);
  const sign = r < 0 ? "-" : "";
  const trim = (s: string): string => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (exp >= -4 && exp < p) {
    const fixed = exp >= 0 ? `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}` : `0.${"0".repeat(-exp - 1)}${digits}`;
    return sign + trim(fixed);
  }
  const e = Math.abs(exp);
  return `${sign}${trim(`${digits[0]}.${digits.slice(1)}`)}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" + e : e}`;
}
