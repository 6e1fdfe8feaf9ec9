// HTCondor's MatchClassAd (matchClassad.cpp): a match evaluates inside one record holding both ads,
//   [ lCtx = [ ad = .LEFT; my = .LEFT; other = .RIGHT; target = .RIGHT ]; LEFT = <MY ad>;
//     rCtx = [ ad = .RIGHT; my = .RIGHT; other = .LEFT; target = .LEFT ]; RIGHT = <TARGET ad>;
//     leftRankValue = LEFT.rank; rightRankValue = RIGHT.rank;
//     symmetricMatch = RIGHT.requirements && LEFT.requirements;
//     leftMatchesRight = RIGHT.requirements; rightMatchesLeft = LEFT.requirements ]
// with lCtx as the parent scope of the left ad and rCtx as that of the right one. So in a match
// `parent` of a top-level ad is its context record, `toplevel`/`root` is the match record, and an
// absolute `.name` looks there. The attributes are in the order HTCondor prints them.
// Built only when an evaluation reaches above one of the two ads; most evaluations never do.
import { attrRef, literal, type Expr } from "./ast.ts";
import { ClassAd } from "./classad.ts";
import { parseExpr } from "./parse.ts";
import { classAdValue } from "./value.ts";

export interface MatchRecord {
  readonly top: ClassAd;
  readonly leftContext: ClassAd;
  readonly rightContext: ClassAd;
}

/** What the context and match records bind (`my` is left out: as a special name it answers in the ad itself). */
export const MATCH_RECORD_NAMES: ReadonlySet<string> = new Set([
  "lctx", "left", "rctx", "right", "leftrankvalue", "rightrankvalue", "symmetricmatch", "leftmatchesright", "rightmatchesleft",
  "ad", "other", "target",
]);

let fixed: readonly (readonly [string, Expr])[] | null = null;

function fixedAttrs(): readonly (readonly [string, Expr])[] {
  fixed ??= [
    ["leftRankValue", parseExpr("LEFT.rank")],
    ["rightRankValue", parseExpr("RIGHT.rank")],
    ["symmetricMatch", parseExpr("RIGHT.requirements && LEFT.requirements")],
    ["leftMatchesRight", parseExpr("RIGHT.requirements")],
    ["rightMatchesLeft", parseExpr("LEFT.requirements")],
  ];
  return fixed;
}

const LEFT_REF = attrRef("LEFT", null, true);
const RIGHT_REF = attrRef("RIGHT", null, true);

function context(own: Expr, other: Expr, top: ClassAd): ClassAd {
  return new ClassAd([["ad", own], ["my", own], ["other", other], ["target", other]], top);
}

export function matchRecord(left: ClassAd, right: ClassAd): MatchRecord {
  const top = new ClassAd();
  const leftContext = context(LEFT_REF, RIGHT_REF, top);
  const rightContext = context(RIGHT_REF, LEFT_REF, top);
  top.set("lCtx", literal(classAdValue(leftContext)));
  top.set("LEFT", literal(classAdValue(left)));
  top.set("rCtx", literal(classAdValue(rightContext)));
  top.set("RIGHT", literal(classAdValue(right)));
  for (const [name, e] of fixedAttrs()) top.set(name, e);
  return { top, leftContext, rightContext };
}
