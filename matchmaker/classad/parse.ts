// Entry points from text to trees. Warnings (unknown function names) are kept beside the
// tree rather than thrown: HTCondor parses such calls and evaluates them to error.
import type { Expr, RecordExpr } from "./ast.ts";
import { ClassAd } from "./classad.ts";
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
 * Parses a ClassAd: `[ a = 1; b = "x" ]`, or the bracket-less form `a = 1` with one
 * attribute per line or separated by ';' (as condor_q -long and classad_eval accept).
 */
export function parseClassAd(text: string, opts: ParseOptions = {}): ClassAd {
  const trimmed = text.trimStart();
  const source = trimmed.startsWith("[") || trimmed === "" ? text : `[${text.replace(/\r?\n/g, ";\n")}\n]`;
  const p = Parser.forText(source, opts.strict === true);
  const rec = p.classAdText() as RecordExpr;
  p.expectEnd();
  return ClassAd.fromRecord(rec);
}
