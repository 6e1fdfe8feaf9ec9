// A reply's JSON written straight into one Buffer, the bytes `TextEncoder.encode(JSON.stringify(v))`
// gives. The matchmaker answers every advert with an envelope whose signed body is JSON text inside
// JSON: JSON.stringify built the whole reply as a string (the body escaped into it) and the encoder
// copied that into bytes, about 4.6 KB of V8 heap for a 2 KB reply (a twelfth of what a match
// allocated). Here the lengths are counted first, then every string is escaped as it is written
// into a Buffer of that size, which comes from Node's shared pool, outside the heap the garbage
// collector scans. (Escaping with JSON.stringify and writing its result cost as much heap as before:
// V8 builds the escaped string in parts and joins them.) Plain data only (what a schema describes):
// strings, finite numbers, booleans, null, arrays and plain objects; undefined is left out of
// objects and written as null in arrays, as JSON.stringify does. A string with characters past
// ASCII goes through JSON.stringify (the rare case).

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = "0123456789abcdef";
/**
 * How JSON.stringify writes each ASCII character: 0 as it is, 6 as \u00XX, else the letter after
 * the backslash of its two-character escape.
 */
const ESCAPE = new Uint8Array(0x80);
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 6;
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0c] = 0x66; // \f
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[QUOTE] = QUOTE;
ESCAPE[BACKSLASH] = BACKSLASH;

/** Bytes of `s` as a JSON string literal. */
function stringLength(s: string): number {
  let n = 2 + s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return Buffer.byteLength(JSON.stringify(s));
    const e = ESCAPE[c];
    if (e !== 0) n += e === 6 ? 5 : 1;
  }
  return n;
}

function writeString(buf: Buffer, at: number, s: string): number {
  const start = at;
  buf[at++] = QUOTE;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Past ASCII (the rare case): the whole string as JSON.stringify writes it, as counted.
    if (c >= 0x80) return start + buf.write(JSON.stringify(s), start);
    const e = ESCAPE[c];
    if (e === 0) buf[at++] = c;
    else if (e !== 6) {
      buf[at++] = BACKSLASH;
      buf[at++] = e;
    } else {
      buf[at++] = BACKSLASH;
      buf[at++] = 0x75; // u
      buf[at++] = 0x30;
      buf[at++] = 0x30;
      buf[at++] = HEX.charCodeAt(c >> 4);
      buf[at++] = HEX.charCodeAt(c & 15);
    }
  }
  buf[at++] = QUOTE;
  return at;
}

/** JSON's text for a number (`null` when not finite), as JSON.stringify writes it. */
function numberText(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function valueLength(v: unknown): number {
  switch (typeof v) {
    case "string":
      return stringLength(v);
    case "number":
      return numberText(v).length;
    case "boolean":
      return v ? 4 : 5;
    case "object": {
      if (v === null) return 4;
      if (Array.isArray(v)) {
        let n = 2 + Math.max(0, v.length - 1);
        for (const x of v as unknown[]) n += x === undefined ? 4 : valueLength(x);
        return n;
      }
      if (!isPlainObject(v)) throw new TypeError("jsonBytes writes plain data only");
      let n = 2;
      let first = true;
      for (const k in v) {
        const x = v[k];
        if (x === undefined) continue;
        n += (first ? 0 : 1) + stringLength(k) + 1 + valueLength(x);
        first = false;
      }
      return n;
    }
    default:
      throw new TypeError(`jsonBytes cannot write a ${typeof v}`);
  }
}

function writeValue(buf: Buffer, at: number, v: unknown): number {
  switch (typeof v) {
    case "string":
      return writeString(buf, at, v);
    case "number":
      return at + buf.write(numberText(v), at, "latin1");
    case "boolean":
      return at + buf.write(v ? "true" : "false", at, "latin1");
    case "object": {
      if (v === null) return at + buf.write("null", at, "latin1");
      if (Array.isArray(v)) {
        buf[at++] = 0x5b;
        for (let i = 0; i < v.length; i++) {
          if (i > 0) buf[at++] = 0x2c;
          const x = (v as unknown[])[i];
          at = x === undefined ? at + buf.write("null", at, "latin1") : writeValue(buf, at, x);
        }
        buf[at++] = 0x5d;
        return at;
      }
      const o = v as Record<string, unknown>;
      buf[at++] = 0x7b;
      let first = true;
      for (const k in o) {
        const x = o[k];
        if (x === undefined) continue;
        if (!first) buf[at++] = 0x2c;
        first = false;
        at = writeString(buf, at, k);
        buf[at++] = 0x3a;
        at = writeValue(buf, at, x);
      }
      buf[at++] = 0x7d;
      return at;
    }
    default:
      throw new TypeError(`jsonBytes cannot write a ${typeof v}`);
  }
}

/** `v` as JSON in UTF-8: the bytes of `JSON.stringify(v)`, for plain data. */
export function jsonBytes(v: unknown): Buffer {
  const buf = Buffer.allocUnsafe(valueLength(v));
  const end = writeValue(buf, 0, v);
  if (end !== buf.length) throw new Error(`jsonBytes wrote ${end} of ${buf.length} bytes`);
  return buf;
}
