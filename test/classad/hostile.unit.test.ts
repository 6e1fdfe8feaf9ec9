import { describe, expect, it } from "vitest";
import { ClassAdParseError, evaluate, parseClassAd, parseExpr, valueToString } from "../../matchmaker/classad/index.ts";


describe("hostile ClassAd input gives an error value or a parse error, never a crash", () => {
  it("refuses 10,000 nested parentheses with a parse error", () => {
    const text = "(".repeat(10_000) + "1" + ")".repeat(10_000);
    expect(() => parseExpr(text)).toThrow(ClassAdParseError);
  });

  it("still evaluates 100 nested parentheses", () => {
    expect(valueToString(evaluate("(".repeat(100) + "41 + 1" + ")".repeat(100)))).toBe("42");
  });

  it("refuses 100,000 chained unary operators with a parse error", () => {
    expect(() => parseExpr("!".repeat(100_000) + "true")).toThrow(/nested too deeply/);
  });

  it("refuses deeply nested lists and records", () => {
    expect(() => parseExpr("{".repeat(5000) + "}".repeat(5000))).toThrow(ClassAdParseError);
    expect(() => parseExpr("[a = ".repeat(5000) + "1" + "]".repeat(5000))).toThrow(ClassAdParseError);
  });

  it("evaluates an operator chain deeper than HTCondor's evaluation limit to error", () => {
    expect(valueToString(evaluate("1" + " + 1".repeat(300)))).toBe("301");
    expect(valueToString(evaluate("1" + " + 1".repeat(1000)))).toBe("error");
  });

  it("refuses an operator chain of 100,000 terms with a parse error", () => {
    expect(() => parseExpr("1" + "+1".repeat(100_000))).toThrow(/nested too deeply/);
  });

  it("handles a list of 100,000 elements and a 5 MB string", () => {
    expect(valueToString(evaluate("size({" + Array(100_000).fill("7").join(",") + "})"))).toBe("100000");
    expect(valueToString(evaluate('size("' + "a".repeat(5_000_000) + '")'))).toBe("5000000");
  });

  it("gives error, not a hang, for catastrophic regular expressions", () => {
    const t0 = Date.now();
    expect(valueToString(evaluate('regexp("^(a+)+$", "' + "a".repeat(40) + 'b")'))).toBe("error");
    // Every match of (x+x+)+y holds a "y": PCRE2 answers no match before backtracking (its
    // required-code-unit check, pcre2_match.c), and so do we.
    expect(valueToString(evaluate('regexp("(x+x+)+y", "' + "x".repeat(5000) + '")'))).toBe("false");
    expect(valueToString(evaluate('regexp("(x+x+)+y", "' + "x".repeat(5000) + 'y")'))).toBe("true");
    expect(valueToString(evaluate('regexp("(x+x+)+y", "' + "x".repeat(5000) + 'z")'))).toBe("false");
    expect(valueToString(evaluate('replaceAll("(a|aa)+$", "' + "a".repeat(60) + 'b", "x")'))).toBe("error");
    // Bounded: each runs out of its regex budget (200 ms) rather than backtracking for ages.
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it("still matches ordinary regular expressions on long subjects", () => {
    expect(valueToString(evaluate('regexp("b$", "' + "a".repeat(100_000) + 'b")'))).toBe("true");
    expect(valueToString(evaluate('regexp("^(ab)+$", "' + "ab".repeat(1000) + '")'))).toBe("true");
  });

  it("evaluates self-referencing attributes to undefined, as HTCondor's circular-reference check does", () => {
    const ad = parseClassAd("[ a = a + 1; b = c; c = b; d = [ e = parent.d.e ].e; f = f ?: 1 ]");
    for (const name of ["a", "b", "c", "d"]) expect(valueToString(ad.evaluateAttr(name))).toBe("undefined");
    expect(valueToString(ad.evaluateAttr("f"))).toBe("1");
  });

  it("evaluates a 3,000-long chain of attribute references to error (HTCondor's depth limit is 400)", () => {
    const ad = parseClassAd("[" + Array.from({ length: 3000 }, (_, i) => `a${i} = a${i + 1} + 1`).join(";") + "; a3000 = 0 ]");
    expect(valueToString(ad.evaluateAttr("a0"))).toBe("error");
    expect(valueToString(ad.evaluateAttr("a2900"))).toBe("100");
  });

  it("bounds list projections that refer back to themselves", () => {
    const ad = parseClassAd("[ l = { [ a = l.a ] , [ a = 1 ] } ]");
    // The inner l.a meets its own attribute again: that reference is the loop (undefined), the rest evaluates.
    expect(valueToString(evaluate("l.a", ad))).toBe("{ { undefined,1 },1 }");
  });

  it("rejects NUL in a string and unterminated strings and comments with a position", () => {
    expect(() => parseExpr('"a\\0b"')).toThrow(/NUL/);
    try {
      parseExpr('1 +\n  "abc');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ClassAdParseError);
      expect((e as ClassAdParseError).line).toBe(2);
      expect((e as ClassAdParseError).column).toBe(3);
    }
    expect(() => parseExpr("1 /* never closed")).toThrow(/never closed/);
  });

  it("keeps eval() of itself bounded", () => {
    const ad = parseClassAd('[ a = eval("a") ]');
    expect(valueToString(ad.evaluateAttr("a"))).toBe("undefined");
  });
});
