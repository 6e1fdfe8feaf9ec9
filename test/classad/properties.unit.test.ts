import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ClassAdParseError, evaluate, interpretExpr, parseClassAd, parseExpr, unparse, valueToString, type Expr,
} from "../../matchmaker/classad/index.ts";

const KINDS = new Set(["undefined", "error", "boolean", "integer", "real", "string", "list", "classad"]);

const TOKENS = [
  "1", "0", "-1", "2.5", "1e3", "017", "0x1F", '"a"', '"B"', '""', "true", "false", "undefined", "error", "x", "y", "MY", "TARGET", "Memory",
  "+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "=?=", "=!=", "is", "isnt", "&&", "||", "!", "~", "&", "|", "^", "<<", ">>", ">>>",
  "?", ":", "?:", "(", ")", "[", "]", "{", "}", ",", ";", "=", ".", "size", "member", "strcat", "substr", "regexp", "int", "real", "ifThenElse", "sum",
  "stringListMember", "foo", "parent", " ",
];

const ad = parseClassAd('[ Memory = 4096; x = y + 1; y = 2; l = { 1, 2.5, "s" }; r = [ a = 1; b = a ]; self_ref = self_ref + 1 ]');
const other = parseClassAd('[ Memory = 1024; Site = "CERN"; y = "t" ]');

/** Random expression trees printed as text; unary minus never sits on a bare number so the text is canonical. */
const exprText: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("1", "0", "42", "2.5", "0.25", '"abc"', '"ABC"', "true", "false", "undefined", "error", "x", "y", "Memory", "TARGET.Memory", "MY.x", "l", "r.b", "self_ref"),
    fc.tuple(tie("e"), fc.constantFrom("+", "-", "*", "/", "%", "<", "<=", "==", "!=", "is", "isnt", "&&", "||", "&", "|", "<<", ">>"), tie("e")).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(fc.constantFrom("!", "~", "-"), tie("e")).map(([op, a]) => `${op}(${a})`),
    tie("e").map((a) => `(${a})`),
    fc.tuple(tie("e"), tie("e"), tie("e")).map(([a, b, c]) => `${a} ? ${b} : ${c}`),
    fc.array(tie("e"), { maxLength: 3 }).map((xs) => `{ ${xs.join(",")} }`),
    fc.tuple(fc.constantFrom("size", "int", "real", "string", "isUndefined", "toUpper", "floor", "sum", "bool"), tie("e")).map(([f, a]) => `${f}(${a})`),
    fc.tuple(tie("e"), tie("e")).map(([a, b]) => `member(${a},${b})`),
    fc.tuple(tie("e"), tie("e")).map(([a, b]) => `${a}[${b}]`),
    fc.tuple(tie("e"), tie("e")).map(([a, b]) => `[ a = ${a}; b = ${b} ]`),
  ),
})).e;

describe("ClassAd properties", () => {
  it("never throws while evaluating, whatever tokens it is given (only parse errors are thrown)", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 25 }), (tokens) => {
        const text = tokens.join(" ");
        let e: Expr;
        try {
          e = parseExpr(text);
        } catch (err) {
          expect(err).toBeInstanceOf(ClassAdParseError);
          return;
        }
        const v = evaluate(e, ad, other);
        expect(KINDS.has(v.kind)).toBe(true);
        expect(valueToString(interpretExpr(e, ad, other))).toBe(valueToString(v));
      }),
      { numRuns: 3000 },
    );
  });

  it("never throws on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        try {
          const v = evaluate(parseExpr(text));
          expect(KINDS.has(v.kind)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(ClassAdParseError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("reports parse errors with a line and column inside the text", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS, "\n"), { maxLength: 20 }), (tokens) => {
        const text = tokens.join(" ");
        try {
          parseExpr(text);
        } catch (err) {
          if (!(err instanceof ClassAdParseError)) throw err;
          const lines = text.split("\n");
          expect(err.line).toBeGreaterThanOrEqual(1);
          expect(err.line).toBeLessThanOrEqual(lines.length);
          expect(err.column).toBeGreaterThanOrEqual(1);
          expect(err.column).toBeLessThanOrEqual(lines[err.line - 1].length + 2);
          expect(err.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips: parse(unparse(e)) prints the same and evaluates the same", () => {
    fc.assert(
      fc.property(exprText, (text) => {
        const e = parseExpr(text);
        const printed = unparse(e);
        const again = parseExpr(printed);
        expect(unparse(again)).toBe(printed);
        expect(valueToString(evaluate(again, ad, other))).toBe(valueToString(evaluate(e, ad, other)));
      }),
      { numRuns: 2000 },
    );
  });

  it("compiled closures and the tree-walker agree on generated expressions", () => {
    fc.assert(
      fc.property(exprText, (text) => {
        const e = parseExpr(text);
        expect(valueToString(evaluate(e, ad, other))).toBe(valueToString(interpretExpr(e, ad, other)));
      }),
      { numRuns: 2000 },
    );
  });
});
