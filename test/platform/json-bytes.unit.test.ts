import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonBytes } from "../../platform/json-bytes.ts";

// The matchmaker sends its replies as jsonBytes writes them: a pilot must read exactly the bytes
// JSON.stringify would have made, whatever the strings hold.
const asStringify = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("hex");

describe("jsonBytes", () => {
  it("writes a match reply with a signed body inside it as JSON.stringify does", () => {
    const body = JSON.stringify({ job: { userDn: "/DC=org/CN=Zoë 日本", environment: { A: 'x"y\\z\n\t\u0001' } }, nonce: "ab" });
    const reply = { schemaVersion: 1, status: "match", envelope: { schemaVersion: 1, body, signature: "MEUC+/=", signerRef: "f".repeat(64), batch: { size: 3, index: 2, path: ["a".repeat(44)] } } };
    expect(jsonBytes(reply).toString("hex")).toBe(asStringify(reply));
  });

  it("escapes every control character, quote and backslash, and keeps lone surrogates escaped", () => {
    const all = Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c)).join("");
    for (const s of [all, "\ud800", "a\udc00b", "😀", "\u2028\u2029", ""]) expect(jsonBytes({ s, a: [s] }).toString("hex")).toBe(asStringify({ s, a: [s] }));
  });

  it("leaves undefined out of objects, writes it as null in arrays, and non-finite numbers as null", () => {
    const v = { a: undefined, b: [undefined, NaN, Infinity, -0, 1e21, 0.1, true, false, null], c: {} };
    expect(jsonBytes(v).toString()).toBe(JSON.stringify(v));
  });

  it("matches JSON.stringify on any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: "binary" }), (v) => {
        expect(jsonBytes(v).toString("hex")).toBe(asStringify(v));
      }),
      { numRuns: 200 },
    );
  });

  it("writes UTF-8 bytes (a body kept as the bytes that were signed) as the JSON string of their text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (t) => {
        // Bytes hold well-formed text only: a lone surrogate became U+FFFD when they were written.
        const text = Buffer.from(t).toString("utf8");
        expect(jsonBytes({ body: Buffer.from(text), a: [new Uint8Array(Buffer.from(text))] }).toString("hex")).toBe(asStringify({ body: text, a: [text] }));
      }),
      { numRuns: 300 },
    );
  });

  it("writes values larger than its scratch buffer whole, and the next small one unchanged", () => {
    const big = { s: 'a"\u0001'.repeat(20_000), long: "x".repeat(50_000), a: Array.from({ length: 3000 }, (_, i) => ({ i, t: "é" })) };
    expect(jsonBytes(big).toString("hex")).toBe(asStringify(big));
    expect(jsonBytes({ ok: true }).toString()).toBe('{"ok":true}');
  });

  it("leaves the asked number of bytes before the JSON, for the caller to fill", () => {
    const v = { a: "x", b: [1, 2] };
    const out = jsonBytes(v, 3);
    expect(out.length).toBe(3 + JSON.stringify(v).length);
    expect(out.subarray(3).toString()).toBe(JSON.stringify(v));
  });

  it("refuses what is not plain data, rather than writing something JSON.stringify would not", () => {
    expect(() => jsonBytes({ d: new Date(0) })).toThrow(/plain data/);
    expect(() => jsonBytes({ f: () => 1 })).toThrow(/function/);
  });
});
