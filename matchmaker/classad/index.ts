// The ClassAd language: parse, unparse, evaluate (compiled or tree-walked), match.
// Pure code: no I/O, no network clients.
export { ClassAd } from "./classad.ts";
export { ClassAdParseError } from "./parse-error.ts";
export type { Expr, BinaryOp, UnaryOp } from "./ast.ts";
export { literal, attrRef } from "./ast.ts";
export { parseExpr, parseExprWithWarnings, parseClassAd, parseWarnings, type ParseOptions } from "./parse.ts";
export type { ParseWarning } from "./parser.ts";
export { unparse, valueToString, formatReal, quoteString } from "./unparse.ts";
export { evaluate, compile, CompiledExpr, interpretExpr, type EvalOptions } from "./evaluate.ts";
export { acceptsMatch, matchAds, rankOf, requirementsMet, type Evaluator, type MatchResult } from "./match.ts";
export { analyzeMatch, conjuncts, type ClauseAnalysis, type MatchAnalysis } from "./analyze.ts";
export { EvalBudget, EvalBudgetExceeded, type EvalBudgetLimits } from "./eval-budget.ts";
export { referencedAttributes, type References } from "./references.ts";
export { signature } from "./signature.ts";
export { functionNames, isKnownFunction } from "./functions.ts";
export {
  UNDEFINED, ERROR, TRUE, FALSE, boolValue, intValue, realValue, stringValue, listValue, classAdValue, absTimeValue, relTimeValue,
  truthOf, isNumber,
  type Value, type ValueKind, type UndefinedValue, type ErrorValue, type BooleanValue, type IntegerValue, type RealValue,
  type StringValue, type ListValue, type ClassAdValue, type AbsTimeValue, type RelTimeValue,
} from "./value.ts";
export { toIntegerValue, toRealValue, toStringValue } from "./conversions.ts";
