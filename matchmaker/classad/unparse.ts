// Canonical ClassAd text, byte for byte what HTCondor's ClassAdUnParser prints: binary
// operators with one space each side, unary operators as " -x", lists "{ 1,2 }", records
// "[ a = 1; b = 2 ]" (attributes ordered by name length, then case-insensitively, as
// HTCondor's flat map stores them), reals as C's "%1.15E", non-printable bytes as octal.
import type { Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";
import type { Value } from "./value.ts";
import { cExponent } from "./c-exponent.ts";
import { absTimeToString, relTimeToString } from "./time-text.ts";

const RESERVED = new Set(["error", "false", "is", "isnt", "parent", "true", "undefined"]);

export function formatReal(r: number): string {
  if (r === 0) return Object.is(r, -0) ? "-0.0" : "0.0";
  if (Number.isNaN(r)) return 'real("NaN")';
  if (r === Infinity) return 'real("INF")';
  if (r === -Infinity) return 'real("-INF")';
  return cExponent(r, 15);
}

function escapeBytes(s: string, delim: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    const code = s.charCodeAt(i);
    if (c === delim) out += "\\" + delim;
    else if (c === "\\") out += "\\\\";
    else if (code >= 0x20 && code < 0x7f) out += c;
    else if (code === 7) out += "\\a";
    else if (code === 8) out += "\\b";
    else if (code === 12) out += "\\f";
    else if (code === 10) out += "\\n";
    else if (code === 13) out += "\\r";
    else if (code === 9) out += "\\t";
    else if (code === 11) out += "\\v";
    else if (code <= 0xff) out += "\\" + code.toString(8).padStart(3, "0");
    else for (const b of new TextEncoder().encode(c)) out += "\\" + b.toString(8).padStart(3, "0");
  }
  return out;
}

export function quoteString(s: string): string {
  return `"${escapeBytes(s, '"')}"`;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function formatName(name: string): string {
  const body = escapeBytes(name, "'");
  return IDENTIFIER.test(body) && !RESERVED.has(body.toLowerCase()) ? body : `'${body}'`;
}

/** HTCondor's attribute order: shorter names first, then case-insensitive byte order. */
export function attributeOrder(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

function recordText(attrs: readonly (readonly [string, Expr])[]): string {
  const sorted = [...attrs].sort((p, q) => attributeOrder(p[0], q[0]));
  return `[ ${sorted.map(([n, e]) => `${formatName(n)} = ${unparse(e)}`).join("; ")} ]`;
}

export function classAdText(ad: ClassAd): string {
  return recordText(ad.entries());
}

export function valueToString(v: Value): string {
  switch (v.kind) {
    case "undefined": return "undefined";
    case "error": return "error";
    case "boolean": return v.value ? "true" : "false";
    case "integer": return v.exact !== undefined ? v.exact.toString() : String(v.value);
    case "real": return formatReal(v.value);
    case "string": return quoteString(v.value);
    case "list": return `{ ${v.items.map(unparse).join(",")} }`;
    case "classad": return classAdText(v.ad);
    case "abstime": return `absTime("${absTimeToString(v.secs, v.offset)}")`;
    case "reltime": return `relTime("${relTimeToString(v.secs, v.negNaN === true)}")`;
  }
}

export function unparse(e: Expr): string {
  switch (e.type) {
    case "literal": return e.reltime && e.value.kind === "real" ? `relTime("${relTimeToString(e.value.value)}")` : valueToString(e.value);
    case "attr":
      // sink.cpp appends the name after a selection unquoted, reserved words too (`r.parent`). A name
      // that is not an identifier stays quoted here, so printed text never becomes ambiguous
      // (signature() keys caches on it); HTCondor would print `r.'a b'` as `r.a b`.
      if (e.base) return `${unparse(e.base)}.${IDENTIFIER.test(e.name) ? e.name : formatName(e.name)}`;
      return (e.absolute ? "." : "") + formatName(e.name);
    case "unary": return ` ${e.op}${unparse(e.operand)}`;
    case "binary": return `${unparse(e.left)} ${e.op} ${unparse(e.right)}`;
    case "ternary": return `${unparse(e.cond)} ? ${unparse(e.then)} : ${unparse(e.else)}`;
    case "elvis": return `${unparse(e.left)} ?: ${unparse(e.right)}`;
    case "paren": return `(${unparse(e.inner)})`;
    case "subscript": return `${unparse(e.base)}[${unparse(e.index)}]`;
    case "call": return `${e.name}(${e.args.map(unparse).join(",")})`;
    case "list": return `{ ${e.items.map(unparse).join(",")} }`;
    case "record": return recordText(e.attrs);
  }
}
