// The sign bit of a NaN, as HTCondor's C++ arithmetic leaves it on x86-64 (SSE2) and glibc's
// printf shows it ("-nan" or "nan" in a printed relative time). JavaScript does not promise to
// keep a NaN's bits (V8 may canonicalise a NaN it stores), so values carry the sign explicitly.
// The rules (Intel SDM vol. 1, 4.8.3.5): an operation with a NaN operand returns that NaN, the
// first operand's when both are; an invalid operation on other operands (inf - inf, 0 * inf,
// 0 / 0, inf / inf, pow of a negative base to a fractional power) returns the "default NaN",
// whose sign bit is set; negation flips the bit; floor/ceil keep it.

/** The sign bit of `result` = `a` op `b` when it is a NaN (false when it is not). */
export function nanSign(result: number, a: number, aNegNaN: boolean, b: number, bNegNaN: boolean): boolean {
  if (result === result) return false;
  if (a !== a) return aNegNaN;
  if (b !== b) return bNegNaN;
  return true;
}

/** The sign bit of `-x`. */
export function negatedNanSign(x: number, negNaN: boolean): boolean {
  return x !== x && !negNaN;
}
