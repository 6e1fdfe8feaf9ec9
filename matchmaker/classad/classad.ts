// A record of named expressions. Names are case-insensitive; the spelling first inserted is
// kept for printing. `parent` is the enclosing record (for nested records and `parent.x`).
import { literal, type Expr, type RecordExpr } from "./ast.ts";
import { evaluate } from "./evaluate.ts";
import { parseExpr } from "./parse.ts";
import { classAdText } from "./unparse.ts";
import type { Value } from "./value.ts";

interface Entry {
  readonly name: string;
  readonly expr: Expr;
}

function isValue(x: Expr | Value): x is Value {
  return "kind" in x;
}

const SCOPE_NAMES = new Set(["my", "target", "other", "parent", "self", "toplevel", "root"]);

export class ClassAd {
  parent: ClassAd | null = null;
  /** Bumped on every change, so compiled references can cache a lookup per (ad, version). */
  version = 0;
  /** How many attributes shadow a scope name (my, target, parent...); compiled MY./TARGET. take a fast path when none do. */
  scopeNameCount = 0;
  private readonly attrs = new Map<string, Entry>();

  constructor(init?: Iterable<readonly [string, Expr]>, parent: ClassAd | null = null) {
    this.parent = parent;
    if (init) for (const [n, e] of init) this.setExpr(n, e);
  }

  static fromRecord(rec: RecordExpr, parent: ClassAd | null = null): ClassAd {
    return new ClassAd(rec.attrs, parent);
  }

  /** The expression bound to `name` (any case), or undefined. */
  get(name: string): Expr | undefined {
    return this.attrs.get(name.toLowerCase())?.expr;
  }

  /** Lookup by an already lower-cased name (the evaluator's hot path). */
  lookup(lname: string): Expr | undefined {
    return this.attrs.get(lname)?.expr;
  }

  has(name: string): boolean {
    return this.attrs.has(name.toLowerCase());
  }

  /** Binds `name` to an expression, a value, or expression text (parsed here; throws ClassAdParseError). */
  set(name: string, value: Expr | Value | string): this {
    const expr = typeof value === "string" ? parseExpr(value) : isValue(value) ? literal(value) : value;
    return this.setExpr(name, expr);
  }

  private setExpr(name: string, expr: Expr): this {
    const key = name.toLowerCase();
    const prior = this.attrs.get(key);
    if (!prior && SCOPE_NAMES.has(key)) this.scopeNameCount++;
    this.attrs.set(key, { name: prior ? prior.name : name, expr });
    this.version++;
    return this;
  }

  delete(name: string): boolean {
    const key = name.toLowerCase();
    const had = this.attrs.delete(key);
    if (had) {
      this.version++;
      if (SCOPE_NAMES.has(key)) this.scopeNameCount--;
    }
    return had;
  }

  /** Attribute names as first written, in insertion order. */
  names(): string[] {
    return [...this.attrs.values()].map((e) => e.name);
  }

  entries(): [string, Expr][] {
    return [...this.attrs.values()].map((e) => [e.name, e.expr]);
  }

  get size(): number {
    return this.attrs.size;
  }

  /** Evaluates attribute `name` with this ad as MY and `target` as TARGET; undefined if absent. */
  evaluateAttr(name: string, target?: ClassAd): Value {
    const e = this.get(name);
    if (!e) return { kind: "undefined" };
    return evaluate(e, this, target);
  }

  toString(): string {
    return classAdText(this);
  }
}

/** The scope of a list a projection detached from its records (scope.ts): an empty record with no parent. */
export const DETACHED: ClassAd = new ClassAd([], null);
