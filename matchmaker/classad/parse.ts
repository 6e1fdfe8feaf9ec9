// Entry points from text to trees. Warnings (unknown function names) are kept beside the
// tree rather than thrown: HTCondor parses such calls and evaluates them to error.
import type { Expr, RecordExpr } from "./ast.ts";
import { ClassAd } from "./classad.ts";
import { toByteString } from "./lexer.ts";
import { ClassAdParseError } from "./parse-error.ts";
import { Parser, type ParseWarning } from "./parser.ts";

const warningsOf = new WeakMap<Expr, readonly ParseWarning[]>();

/** What to parse by: `strict` is HTCondor's new-ClassAd semantics (see lexer.ts), the default the old. */
export interface ParseOptions {
  readonly strict?: boolean;
}

/** Parses one expression; throws ClassAdParseError (line, column, message) on bad input. */
export function parseExpr(text: string, opts: ParseOptions = {}): Expr {
  return parseExprWithWarnings(text, opts).expr;
}

export function parseExprWithWarnings(text: string, opts: ParseOptions = {}): { expr: Expr; warnings: readonly ParseWarning[] } {
  const p = Parser.forText(text, opts.strict === true);
  const expr = p.expression();
  // source.cpp parseExpression checks that a full parse used all the input only on its path
  // without '?': after a top-level conditional `c ? a : b` HTCondor ignores whatever follows.
  if (expr.type !== "ternary") p.expectEnd();
  if (p.warnings.length > 0) warningsOf.set(expr, p.warnings);
  return { expr, warnings: p.warnings };
}

/** Warnings recorded when `expr` was parsed (unknown functions), or none. */
export function parseWarnings(expr: Expr): readonly ParseWarning[] {
  return warningsOf.get(expr) ?? [];
}

/**
 * Parses a ClassAd: `[ a = 1; b = "x" ]`, or the long form HTCondor's daemons read
 * (condor_q -long, ads on the wire): one `name = value` per line, see parseLongForm.
 */
export function parseClassAd(text: string, opts: ParseOptions = {}): ClassAd {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith("[") && trimmed !== "") return parseLongForm(text, opts.strict === true);
  const p = Parser.forText(text, opts.strict === true);
  const rec = p.classAdText() as RecordExpr;
  p.expectEnd();
  return ClassAd.fromRecord(rec);
}

/** C's isspace in the "C" locale. */
const isCSpace = (c: string | undefined): boolean => c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";

/**
 * The long form as compat_classad.cpp reads it (CondorClassAdFileIterator with the -long parse
 * helper, then InsertLongFormAttrValue; the wire's ClassAd::Insert is the same per line). Lines
 * end at '\n' (one '\r' before it is dropped); blank lines and lines whose first character after
 * spaces and tabs is '#' are skipped. The name is everything before the first '=', leading
 * whitespace and trailing spaces cut (a tab before the '=' stays in the name, any other text too:
 * `A B = 1` names "A B"); the value is parsed from the first non-space after it with old-ClassAd
 * strings (no escapes: `"C:\dir"` keeps its backslash) and only as far as one expression reaches,
 * so the rest of the line is ignored: `a = 1; b = 2` is only `a`. A later line for a name replaces
 * its value. A line with no '=', no name or no expression fails the whole ad.
 */
function parseLongForm(text: string, strict: boolean): ClassAd {
  const ad = new ClassAd();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (i < lines.length - 1 && line.endsWith("\r")) line = line.slice(0, -1);
    // InsertLongFormAttrValue takes the line as a C string.
    const nul = line.indexOf("\0");
    if (nul >= 0) line = line.slice(0, nul);
    let skip = true;
    for (const c of line) {
      if (c === "#") break;
      if (c !== " " && c !== "\t") {
        skip = false;
        break;
      }
    }
    if (skip) continue;
    let start = 0;
    while (isCSpace(line[start])) start++;
    const eq = line.indexOf("=", start);
    let end = eq;
    while (end > start && line[end - 1] === " ") end--;
    if (eq < 0 || end === start) throw new ClassAdParseError(i + 1, start + 1, eq < 0 ? "expected 'name = expression' (no '=' on the line)" : "an attribute name may not be empty");
    let rhs = eq + 1;
    while (line[rhs] === " ") rhs++;
    let expr: Expr;
    try {
      expr = Parser.forText(line.slice(rhs), strict, true).expression();
    } catch (e) {
      if (e instanceof ClassAdParseError) throw new ClassAdParseError(i + 1, e.line === 1 ? rhs + e.column : e.column, e.message);
      throw e;
    }
    ad.set(toByteString(line.slice(start, end)), expr);
  }
  return ad;
}
