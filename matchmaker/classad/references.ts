// Which attributes an expression depends on, split into MY and TARGET references: the
// matchmaker groups jobs into autoclusters by the values of the machine attributes their
// Requirements and Rank read. A bare name defined in `scope` is a MY reference and its own
// expression is followed (so indirect TARGET references count); any other bare name is a
// TARGET reference, as it resolves there during a match.
import type { Expr } from "./ast.ts";
import type { ClassAd } from "./classad.ts";

export interface References {
  readonly my: string[];
  readonly target: string[];
}

const SCOPE_NAMES = new Set(["my", "target", "other", "self", "parent", "toplevel", "root"]);

export function referencedAttributes(expr: Expr, scope?: ClassAd): References {
  const my = new Set<string>();
  const target = new Set<string>();
  const followed = new Set<string>();
  let budget = 100_000;

  const walk = (e: Expr): void => {
    if (--budget < 0) return;
    switch (e.type) {
      case "literal":
        return;
      case "attr": {
        if (e.base) {
          const b = e.base;
          if (b.type === "attr" && !b.base && !b.absolute) {
            if (b.lname === "my" || b.lname === "self") return bare(e.lname, true);
            if (b.lname === "target" || b.lname === "other") {
              target.add(e.lname);
              return;
            }
          }
          return walk(b);
        }
        if (SCOPE_NAMES.has(e.lname)) return;
        return bare(e.lname, false);
      }
      case "unary": return walk(e.operand);
      case "binary": walk(e.left); return walk(e.right);
      case "ternary": walk(e.cond); walk(e.then); return walk(e.else);
      case "elvis": walk(e.left); return walk(e.right);
      case "paren": return walk(e.inner);
      case "subscript": walk(e.base); return walk(e.index);
      case "call": for (const a of e.args) walk(a); return;
      case "list": for (const i of e.items) walk(i); return;
      case "record": for (const [, v] of e.attrs) walk(v); return;
    }
  };

  const bare = (lname: string, explicitMy: boolean): void => {
    const def = scope?.lookup(lname);
    if (def || explicitMy) {
      my.add(lname);
      if (def && !followed.has(lname)) {
        followed.add(lname);
        walk(def);
      }
      return;
    }
    target.add(lname);
  };

  walk(expr);
  return { my: [...my].sort(), target: [...target].sort() };
}
