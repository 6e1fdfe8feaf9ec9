// The expression tree the parser builds and the unparser, compiler and tree-walker read.
// Parentheses are kept as nodes so unparse(parse(text)) prints them where the user wrote them.
import { realValue, type Value } from "./value.ts";

export type BinaryOp =
  | "<" | "<=" | "!=" | "==" | ">=" | ">" | "is" | "isnt"
  | "+" | "-" | "*" | "/" | "%"
  | "||" | "&&"
  | "|" | "^" | "&" | "<<" | ">>" | ">>>";

export type UnaryOp = "+" | "-" | "!" | "~";

/**
 * `reltime` marks HTCondor's ReltimeLiteral (relTime("...") folded at parse time): it prints as
 * relTime("...") but evaluates to its seconds as a real, as in HTCondor.
 */
export interface LiteralExpr { readonly type: "literal"; readonly value: Value; readonly reltime?: true }
/** `name` as written; `base` is the record expression of `base.name`; `absolute` is `.name`. */
export interface AttrExpr { readonly type: "attr"; readonly name: string; readonly lname: string; readonly base: Expr | null; readonly absolute: boolean }
export interface UnaryExpr { readonly type: "unary"; readonly op: UnaryOp; readonly operand: Expr }
export interface BinaryExpr { readonly type: "binary"; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr }
export interface TernaryExpr { readonly type: "ternary"; readonly cond: Expr; readonly then: Expr; readonly else: Expr }
/** `a ?: b` — a unless a is undefined. */
export interface ElvisExpr { readonly type: "elvis"; readonly left: Expr; readonly right: Expr }
export interface ParenExpr { readonly type: "paren"; readonly inner: Expr }
export interface SubscriptExpr { readonly type: "subscript"; readonly base: Expr; readonly index: Expr }
export interface CallExpr { readonly type: "call"; readonly name: string; readonly args: readonly Expr[] }
export interface ListExpr { readonly type: "list"; readonly items: readonly Expr[] }
export interface RecordExpr { readonly type: "record"; readonly attrs: readonly (readonly [string, Expr])[] }

export type Expr = LiteralExpr | AttrExpr | UnaryExpr | BinaryExpr | TernaryExpr | ElvisExpr | ParenExpr | SubscriptExpr | CallExpr | ListExpr | RecordExpr;

export function literal(value: Value): LiteralExpr {
  return { type: "literal", value };
}

/** HTCondor's ReltimeLiteral: prints as relTime("..."), evaluates to a real. */
export function relTimeLiteral(secs: number): LiteralExpr {
  return { type: "literal", value: realValue(secs), reltime: true };
}

export function attrRef(name: string, base: Expr | null = null, absolute = false): AttrExpr {
  return { type: "attr", name, lname: name.toLowerCase(), base, absolute };
}

const depths = new WeakMap<Expr, number>();

/** Nesting depth of a tree (a leaf is 1), memoized per node. */
export function exprDepth(e: Expr): number {
  const known = depths.get(e);
  if (known !== undefined) return known;
  let d = 0;
  switch (e.type) {
    case "literal": d = 0; break;
    case "attr": d = e.base ? exprDepth(e.base) : 0; break;
    case "unary": d = exprDepth(e.operand); break;
    case "binary": d = Math.max(exprDepth(e.left), exprDepth(e.right)); break;
    case "ternary": d = Math.max(exprDepth(e.cond), exprDepth(e.then), exprDepth(e.else)); break;
    case "elvis": d = Math.max(exprDepth(e.left), exprDepth(e.right)); break;
    case "paren": d = exprDepth(e.inner); break;
    case "subscript": d = Math.max(exprDepth(e.base), exprDepth(e.index)); break;
    case "call": for (const a of e.args) d = Math.max(d, exprDepth(a)); break;
    case "list": for (const a of e.items) d = Math.max(d, exprDepth(a)); break;
    case "record": for (const [, a] of e.attrs) d = Math.max(d, exprDepth(a)); break;
  }
  depths.set(e, d + 1);
  return d + 1;
}
