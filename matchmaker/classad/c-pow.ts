// C's pow(x, y) as glibc computes it, for fnCall.cpp doMath2. glibc's pow is correctly rounded
// (to within 0.52 ulp, so in practice always the nearest double) where V8's Math.pow can be an
// ulp off (pow(3.7, 5): glibc 693.4395700000001, Math.pow 693.4395700000002), and C99 Annex F
// gives pow(1, y) = 1 for every y and pow(-1, +-inf) = 1, where Math.pow gives NaN. An integral or
// half-integral exponent is computed exactly with BigInt and rounded once; others use Math.pow.

const F64 = new Float64Array(1);
const U64 = new BigUint64Array(F64.buffer);

/** x (finite, non-zero) as M * 2^E with M a positive integer of at most 53 bits. */
function decompose(x: number): { m: bigint; e: number } {
  F64[0] = Math.abs(x);
  const bits = U64[0];
  const exp = Number(bits >> 52n);
  const frac = bits & ((1n << 52n) - 1n);
  return exp === 0 ? { m: frac, e: -1074 } : { m: frac | (1n << 52n), e: exp - 1075 };
}

function bitLength(n: bigint): number {
  return n.toString(2).length;
}

/** 2^k as a double, also where 2^k alone would overflow or underflow but the product would not. */
function timesPow2(v: number, k: number): number {
  while (k > 1000) {
    v *= 2 ** 1000;
    k -= 1000;
  }
  while (k < -1000) {
    v *= 2 ** -1000;
    k += 1000;
  }
  return v * 2 ** k;
}

/**
 * n * 2^k rounded to the nearest double, ties to even; `sticky` says the true value lies a little
 * above n * 2^k (bits cut off below n), so a tie is not a tie.
 */
function roundScaled(n: bigint, k: number, sticky: boolean): number {
  const len = bitLength(n);
  // The weight of the last bit kept: 53 significant bits, but never finer than 2^-1074.
  const shift = Math.max(len - 53, -1074 - k);
  if (shift <= 0) return timesPow2(Number(n), k);
  const s = BigInt(shift);
  let q = n >> s;
  const rem = n & ((1n << s) - 1n);
  const half = 1n << (s - 1n);
  if (rem > half || (rem === half && (sticky || (q & 1n) === 1n))) q += 1n;
  return timesPow2(Number(q), k + shift);
}

/** x^y for an integral y with |y| <= 4096, rounded once. */
function exactPow(x: number, y: number): number {
  const { m, e } = decompose(x);
  const n = Math.abs(y);
  const negative = x < 0 && n % 2 === 1;
  const p = m ** BigInt(n);
  let r: number;
  if (y > 0) r = roundScaled(p, e * n, false);
  else {
    // 2^(-e*n) / p: enough quotient bits for 53 significant ones plus a rounding and a sticky bit.
    const bits = bitLength(p) + 64;
    const num = 1n << BigInt(bits);
    const q = num / p;
    r = roundScaled(q, -e * n - bits, num % p !== 0n);
  }
  return negative ? -r : r;
}

/** The integer square root of n (floor). */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** x^(h/2) for a positive x and an odd h with |h| <= 8191: sqrt(x^h), computed exactly and rounded once. */
function exactHalfPow(x: number, h: number): number {
  const { m, e } = decompose(x);
  const n = Math.abs(h);
  let num = m ** BigInt(n);
  let exp = e * n;
  let sticky = false;
  if (h < 0) {
    // 1 / (num * 2^exp), kept as a quotient with plenty of bits below the 53 that stay.
    const bits = bitLength(num) + 192;
    const q = (1n << BigInt(bits)) / num;
    sticky = q * num !== 1n << BigInt(bits);
    num = q;
    exp = -exp - bits;
  }
  // sqrt(num * 2^exp) with an even exponent and at least 128 bits under the root.
  let shift = Math.max(0, 256 - bitLength(num));
  if ((exp - shift) % 2 !== 0) shift++;
  const scaled = num << BigInt(shift);
  const root = isqrt(scaled);
  return roundScaled(root, (exp - shift) / 2, sticky || root * root !== scaled);
}

export function cPow(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  if (Number.isInteger(y) && y !== 1 && Math.abs(y) <= 4096 && x !== 0 && Number.isFinite(x)) {
    // Far outside the doubles the answer is 0 or infinity either way; Math.pow gets that right.
    const mag = Math.log2(Math.abs(x)) * y;
    if (mag > -1200 && mag < 1100) return exactPow(x, y);
  }
  // A half-integral exponent of a positive finite x (pow(x, 0.5), pow(x, 2.5)): also exact.
  if (x > 0 && Number.isFinite(x) && Number.isInteger(2 * y) && Math.abs(y) <= 4096) {
    const mag = Math.log2(x) * y;
    if (mag > -1200 && mag < 1100) return exactHalfPow(x, 2 * y);
  }
  return Math.pow(x, y);
}
