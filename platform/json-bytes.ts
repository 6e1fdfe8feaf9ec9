// A reply's JSON written straight into bytes, the bytes `TextEncoder.encode(JSON.stringify(v))`
// gives. The matchmaker answers every advert with an envelope whose signed body is JSON text inside
// JSON: JSON.stringify built the whole reply as a string (the body escaped into it) and the encoder
// copied that into bytes, about 4.6 KB of V8 heap for a 2 KB reply (a twelfth of what a match
// allocated). Here every string is escaped as it is written into a scratch buffer kept for it, and
// the result copied into a Buffer of its size, which comes from Node's shared pool, outside the heap
// the garbage collector scans. (Escaping with JSON.stringify and writing its result cost as much
// heap as before: V8 builds the escaped string in parts and joins them.) Plain data only (what a
// schema describes): strings, finite numbers, booleans, null, arrays and plain objects; undefined is
// left out of objects and written as null in arrays, as JSON.stringify does. A string with
// characters past ASCII goes through JSON.stringify (the rare case). One addition: a Uint8Array
// holding UTF-8 text (a signed envelope body kept as the bytes that were signed) is written as the
// JSON string of that text, so a body never has to become a string on its way into the reply.
//
// One pass: counting the bytes first, then writing them, read every string twice and made this
// writer three to four times as slow as JSON.stringify on a match's body; the copy out of the
// scratch is a memcpy.

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

/**
 * ASCII that JSON writes as it is. A long string made only of these (paths, DNs, base64) is checked
 * by one native scan and written by one native copy instead of the loop below.
 */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** Shorter strings go through the loop: a native call's own cost is more than their characters'. */
const NATIVE_FROM = 32;

/** Where JSON is written, grown when a value may not fit; synchronous, so never shared. */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);

/** Makes room for `n` more bytes at `at`, keeping what is written before it. */
function room(at: number, n: number): void {
  if (at + n <= scratch.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(2 * scratch.length, at + n));
  scratch.copy(bigger, 0, 0, at);
  scratch = bigger;
}

function writeEscape(at: number, c: number, e: number): number {
  const buf = scratch;
  if (e !== 6) {
    buf[at++] = BACKSLASH;
    buf[at++] = e;
    return at;
  }
  buf[at++] = BACKSLASH;
  buf[at++] = 0x75; // u
  buf[at++] = 0x30;
  buf[at++] = 0x30;
  buf[at++] = HEX.charCodeAt(c >> 4);
  buf[at++] = HEX.charCodeAt(c & 15);
  return at;
}

function writeString(at: number, s: string): number {
  // Six bytes a character at most (\u00XX), and the quotes.
  room(at, 6 * s.length + 2);
  const buf = scratch;
  const start = at;
  buf[at++] = QUOTE;
  if (s.length >= NATIVE_FROM && PLAIN.test(s)) {
    at += buf.write(s, at, "latin1");
    buf[at++] = QUOTE;
    return at;
  }
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Past ASCII (the rare case): the whole string as JSON.stringify writes it.
    if (c >= 0x80) return writeEncoded(start, JSON.stringify(s));
    const e = ESCAPE[c];
    if (e === 0) buf[at++] = c;
    else at = writeEscape(at, c, e);
  }
  buf[at++] = QUOTE;
  return at;
}

/** Text already in JSON form (a number's, a literal's, an escaped string's), in UTF-8. */
function writeEncoded(at: number, text: string): number {
  room(at, 3 * text.length);
  return at + scratch.write(text, at, "utf8");
}

/** ASCII text of a number or literal, written by the loop (a native write costs more for a few characters). */
function writeAscii(at: number, text: string): number {
  room(at, text.length);
  const buf = scratch;
  for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
  return at;
}

/** UTF-8 text `b` as a JSON string literal: bytes past ASCII are written as they are, as JSON.stringify leaves such characters. */
function writeTextBytes(at: number, b: Uint8Array): number {
  room(at, 6 * b.length + 2);
  const buf = scratch;
  buf[at++] = QUOTE;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    const e = c < 0x80 ? ESCAPE[c] : 0;
    if (e === 0) buf[at++] = c;
    else at = writeEscape(at, c, e);
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

function writeValue(at: number, v: unknown): number {
  switch (typeof v) {
    case "string":
      return writeString(at, v);
    case "number":
      return writeAscii(at, numberText(v));
    case "boolean":
      return writeAscii(at, v ? "true" : "false");
    case "object": {
      if (v === null) return writeAscii(at, "null");
      if (v instanceof Uint8Array) return writeTextBytes(at, v);
      if (Array.isArray(v)) {
        room(at, 1);
        scratch[at++] = 0x5b;
        for (let i = 0; i < v.length; i++) {
          if (i > 0) {
            room(at, 1);
            scratch[at++] = 0x2c;
          }
          const x = (v as unknown[])[i];
          at = x === undefined ? writeAscii(at, "null") : writeValue(at, x);
        }
        room(at, 1);
        scratch[at++] = 0x5d;
        return at;
      }
      if (!isPlainObject(v)) throw new TypeError("jsonBytes writes plain data only");
      room(at, 1);
      scratch[at++] = 0x7b;
      let first = true;
      for (const k in v) {
        const x = v[k];
        if (x === undefined) continue;
        if (!first) {
          room(at, 1);
          scratch[at++] = 0x2c;
        }
        first = false;
        at = writeString(at, k);
        room(at, 1);
        scratch[at++] = 0x3a;
        at = writeValue(at, x);
      }
      room(at, 1);
      scratch[at++] = 0x7d;
      return at;
    }
    default:
      throw new TypeError(`jsonBytes cannot write a ${typeof v}`);
  }
}

/**
 * `v` as JSON in UTF-8: the bytes of `JSON.stringify(v)`, for plain data. `lead` bytes are left
 * before the JSON for the caller to fill (a Merkle leaf's prefix byte, so the leaf is hashed
 * without copying the JSON behind it).
 */
export function jsonBytes(v: unknown, lead = 0): Buffer {
  room(0, lead);
  const end = writeValue(lead, v);
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  return out;
}
