// The text a pool-lease request's signature covers (RFC 8785's canonical JSON): the same for the same
// data in any key order, so a verifier never depends on how the sender ordered its fields.
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../security/index.ts";

describe("canonicalJson", () => {
  it("writes equal objects alike whatever their key order, with no white space", () => {
    const a = { b: 1, a: [1, "x", { d: true, c: null }], e: undefined };
    const b = { a: [1, "x", { c: null, d: true }], b: 1 };
    expect(canonicalJson(a)).toBe('{"a":[1,"x",{"c":null,"d":true}],"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(canonicalJson({ a: 1, b: 2 })).not.toBe(canonicalJson({ a: 1, b: 3 }));
  });

  it("orders member names by UTF-16 code units, as RFC 8785 s. 3.2.3's example does", () => {
    const keys = ["\u20ac", "\r", "\ufb33", "1", "\ud83d\ude00", "\u0080", "\u00f6"];
    const text = canonicalJson(Object.fromEntries(keys.map((k, i) => [k, i])));
    const order = [...text.matchAll(/:(\d)/g)].map((m) => keys[Number(m[1])]);
    expect(order).toEqual(["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]);
  });

  it("refuses what JSON cannot say exactly: a number that is not finite, an object that is not plain data", () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/finite/);
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(/plain/);
  });
});
