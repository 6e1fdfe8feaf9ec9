// The one text a signature over a JSON object is made and checked on, whatever order its fields
// arrived in: the JSON Canonicalization Scheme (RFC 8785) for plain data. Object members sorted by
// their names' UTF-16 code units, no white space, strings and numbers as ECMAScript's JSON.stringify
// writes them (which RFC 8785 adopts). A verifier that rebuilt the text with JSON.stringify of the
// parsed object depended on the sender's key order; this does not, and a client in another language
// can produce the same bytes with any JCS library.
//
// Signed requests from certificates (task batches, task control, factory control) need no canonical
// form: they carry the exact text signed (schemas/messages/common.ts, signedTextFields). This is for
// a message whose fields are its own top level, such as a pilot's pool-lease request.

/** `v` in RFC 8785's canonical form. Plain data only: strings, finite numbers, booleans, null, arrays, plain objects. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError("canonicalJson: a number must be finite");
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map((x: unknown) => (x === undefined ? "null" : canonicalJson(x))).join(",")}]`;
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new TypeError("canonicalJson: plain objects only");
    const o = v as Record<string, unknown>;
    // Array.prototype.sort without a comparator compares UTF-16 code units, as RFC 8785 s. 3.2.3 asks.
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  throw new TypeError(`canonicalJson cannot write a ${typeof v}`);
}
