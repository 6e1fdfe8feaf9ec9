// Differential regression cases: where HTCondor's negotiator (the ClassAd library in daemon mode,
// old semantics, compat_classad.cpp's functions linked in) answered otherwise than we did. Each
// group names the HTCondor source (htcondor/htcondor, src/...) whose behaviour it pins; the expected
// values are HTCondor's answers.
import { describe, expect, it } from "vitest";
import { ClassAd, evaluate, EvalBudget, EvalBudgetExceeded, interpretExpr, matchAds, parseClassAd, parseExpr, rankOf, valueToString } from "../../matchmaker/classad/index.ts";

function both(expr: string, my?: ClassAd): string {
  const e = parseExpr(expr);
  const compiled = valueToString(evaluate(e, my));
  expect(valueToString(interpretExpr(e, my))).toBe(compiled);
  return compiled;
}

function cases(list: readonly (readonly [string, string])[]): void {
  for (const [expr, expected] of list) {
    it(`${expr.length > 90 ? expr.slice(0, 90) + "…" : expr} → ${expected}`, () => {
      expect(both(expr)).toBe(expected);
    });
  }
}

describe("splitUserName / splitSlotName (condor_utils/compat_classad.cpp splitAt_func)", () => {
  cases([
    ['splitUserName("alice@example.org")', '{ "alice","example.org" }'],
    ['splitSlotName("slot1_2@wn042.cern.ch")', '{ "slot1_2","wn042.cern.ch" }'],
    ['splitUserName("alice")', '{ "alice","" }'],
    ['splitSlotName("wn042")', '{ "","wn042" }'],
    ['splitUserName("a@b@c")', '{ "a","b@c" }'],
    ['splitusername("@x")', '{ "","x" }'],
    ["splitUserName(undefined)", "error"],
    ["splitUserName(42)", "error"],
    ['splitUserName("a", "b")', "error"],
    ['splitSlotName("slot1@x")[1]', '"x"'],
  ]);
});

describe("split() (condor_utils/compat_classad.cpp splitArb_func): items kept as written", () => {
  cases([
    ['split("a, b", ",")', '{ "a"," b" }'],
    ['split(",a,,b,")', '{ "a","","b" }'],
    ['split("a, b")', '{ "a","b" }'],
    ['split("a ,b")', '{ "a","b" }'],
    ['split("a,,,b")', '{ "a","","","b" }'],
    ['split("a  b")', '{ "a","b" }'],
    ['split("a;b;;c", ";")', '{ "a","b","","c" }'],
    ['split("a b", "")', '{ "a b" }'],
    ['split("")', "{  }"],
    ['split("a\\tb")', '{ "a","b" }'],
    ['split("a\\nb")', '{ "a\\nb" }'],
    ["split(undefined)", "error"],
    ['split("a", undefined)', "error"],
    ['size(split(",a,,b,"))', "3"],
  ]);
});

describe("version* compare bytes as signed chars (classad/natural_cmp.cpp)", () => {
  cases([
    ['versioncmp("é", "e") < 0', "true"],
    ['versioncmp("e", "é") > 0', "true"],
    ['versionLT("1.é", "1.a")', "true"],
    ['versionGT("x", "ÿ")', "true"],
    ['versioncmp("8.10.0", "8.9.1") > 0', "true"],
  ]);
});

describe("stringListsIntersect (classad/fnCall.cpp split_string_list: no or empty delimiter is \" ,\")", () => {
  cases([
    ['stringListsIntersect("a b", "b", "")', "true"],
    ['stringListsIntersect("one,two", "two,three", "")', "true"],
    ['stringListsIntersect("one, two", "two", ",")', "false"],
    ['stringListsIntersect("one, two", "two")', "true"],
    ['stringListsIntersect("One", "one")', "false"],
    ['stringListsIntersect("a", "a", error)', "error"],
  ]);
});

describe("one depth counter shared by operators and attribute references (classad/exprTree.h MAX_CLASSAD_RECURSION = 400)", () => {
  const bangs = (n: number): string => "!".repeat(n) + "true";
  const chain = (n: number): string => {
    const attrs = Array.from({ length: n }, (_, i) => (i === n - 1 ? `a${i} = 1` : `a${i} = a${i + 1} + 1`));
    return `[ ${attrs.join("; ")} ].a0`;
  };
  // operators.cpp RecursionGuard: the 401st nested operator fails the evaluation.
  it("400 nested ! then true is true; 401 is error", () => {
    expect(both(bangs(400))).toBe("true");
    expect(both(bangs(401))).toBe("error");
    expect(both(bangs(399))).toBe("false");
  });
  it("parentheses count as operators (OperationParens)", () => {
    expect(both("!".repeat(399) + "(true)")).toBe("false");
    expect(both("!".repeat(400) + "(true)")).toBe("error");
    expect(both("(".repeat(100) + "1" + ")".repeat(100))).toBe("1");
  });
  // attrrefs.cpp: each link is one reference and one `+`, two levels; the 201st link starts at 0.
  it("a 200-link attribute chain evaluates to 200; 201 links fail", () => {
    expect(both(chain(200))).toBe("200");
    expect(both(chain(201))).toBe("error");
  });
  it("a failed depth check takes the whole expression with it (Evaluate() returns false)", () => {
    expect(both(`isError(${bangs(401)})`)).toBe("error");
    expect(both(`(${chain(201)}) =?= error`)).toBe("error");
  });
  it("an operator short-circuited away is never counted", () => {
    expect(both(`true || ${bangs(401)}`)).toBe("true");
  });
});

describe("regular expressions answer as PCRE2 does (classad/fnCall.cpp regexp_helper)", () => {
  const as = "a".repeat(5000);
  // pcre2_match.c's required-code-unit check: no "c" in the subject, no match, no backtracking.
  cases([
    [`regexp("(a|aa)*c", "${as}")`, "false"],
    [`regexps("(a|aa)*c", "${as}", "x")`, '""'],
    [`regexp("(a|aa)*C", "${as}", "i")`, "false"],
    [`regexp("(a|aa)*c", "${as}c")`, "true"],
    [`replaceAll("(a|aa)*c", "${as}", "x")`, `"${as}"`],
    [`stringList_regexpMember("(a|aa)*c", "${as}, ${as}")`, "false"],
    ['regexp("a(b|c)d", "xxacd")', "true"],
    ['regexp("a(b|c)d", "xxaed")', "false"],
    ['regexp("colou?r", "color")', "true"],
  ]);
  // PCRE2_ERROR_MATCHLIMIT is what regexp_helper turns into error.
  it("a search that runs out of time is error (PCRE2's match limit), and bounded", () => {
    const t0 = performance.now();
    expect(both(`regexp("^(a+)+$", "${"a".repeat(40)}b")`)).toBe("error");
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
  it("all the searches of one evaluation share one time allowance", () => {
    const slow = `regexp("^(a+)+$", "${"a".repeat(40)}b")`;
    const expr = Array.from({ length: 50 }, () => `isError(${slow})`).join(" && ");
    const t0 = performance.now();
    expect(valueToString(evaluate(expr))).toBe("true");
    // 50 searches of 200 ms each would take 10 s; the evaluation's allowance is 200 ms in all.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe("Requirements accepted as IsAMatch does (condor_utils/compat_classad_util.cpp, classad/matchClassad.cpp EvalMatchExpr)", () => {
  const machine = parseClassAd("[ Memory = 4096; Requirements = 1 ]");
  it("a non-zero number is a match, zero is not", () => {
    expect(matchAds(parseClassAd("[ Requirements = 1 ]"), machine).match).toBe(true);
    expect(matchAds(parseClassAd("[ Requirements = TARGET.Memory ]"), machine).match).toBe(true);
    expect(matchAds(parseClassAd("[ Requirements = 0 ]"), machine).match).toBe(false);
    expect(matchAds(parseClassAd("[ Requirements = TARGET.Memory - 4096 ]"), machine).match).toBe(false);
    expect(matchAds(parseClassAd('[ Requirements = "yes" ]'), machine).match).toBe(false);
  });
});

describe("Rank as the negotiator's EvalFloat(ATTR_RANK, my, target) (condor_utils/compat_classad.cpp; negotiator matchmaker.cpp)", () => {
  it("a machine without Rank ranks by the job's Rank, evaluated in the job", () => {
    const job = parseClassAd("[ Rank = TARGET.Memory; Requirements = true ]");
    const machine = parseClassAd("[ Memory = 4096; Requirements = true ]");
    const m = matchAds(job, machine);
    expect(m.jobRank).toBe(4096);
    expect(m.machineRank).toBe(4096);
  });
  it("a job without Rank takes the machine's Rank, seen from the machine", () => {
    const job = parseClassAd('[ Owner = "alice"; Requirements = true ]');
    const machine = parseClassAd('[ Memory = 4096; Rank = TARGET.Owner == "alice" ? 10 : 1; Requirements = true ]');
    expect(rankOf(job, machine)).toBe(10);
    expect(matchAds(job, machine).machineRank).toBe(10);
  });
  it("booleans count as 1 / 0, strings and undefined as 0; neither side with Rank is 0", () => {
    const m = parseClassAd("[ Requirements = true ]");
    expect(rankOf(parseClassAd("[ Rank = true ]"), m)).toBe(1);
    expect(rankOf(parseClassAd('[ Rank = "high" ]'), m)).toBe(0);
    expect(rankOf(parseClassAd("[ Rank = TARGET.Nope ]"), m)).toBe(0);
    expect(rankOf(parseClassAd("[ X = 1 ]"), m)).toBe(0);
  });
});

describe("an evaluation budget across many evaluations (one advert's match)", () => {
  it("is exceeded by an advert full of slow regular expressions, however many there are", () => {
    const slow = `regexp("^(a+)+$", "${"a".repeat(40)}b")`;
    const reqs = Array.from({ length: 250 }, (_, i) => `R${i} = ${slow}`).join("; ");
    const machine = parseClassAd(`[ ${reqs}; Requirements = ${Array.from({ length: 250 }, (_, i) => `isError(R${i})`).join(" && ")} ]`);
    const job = parseClassAd("[ Requirements = true ]");
    const budget = new EvalBudget({ steps: 1_000_000, ms: 50 });
    const t0 = performance.now();
    expect(() => matchAds(job, machine, budget)).toThrow(EvalBudgetExceeded);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
  it("is exceeded by steps: exponential re-evaluation of shared sub-expressions", () => {
    const attrs = Array.from({ length: 30 }, (_, i) => `a${i} = a${i + 1} + a${i + 1}`).join("; ");
    const machine = parseClassAd(`[ ${attrs}; a30 = 1; Requirements = a0 > 0 ]`);
    expect(() => matchAds(parseClassAd("[ Requirements = true ]"), machine, new EvalBudget({ steps: 100_000, ms: 10_000 }))).toThrow(EvalBudgetExceeded);
  });
  it("leaves an ordinary match alone", () => {
    const machine = parseClassAd('[ Memory = 4096; OpSys = "LINUX"; Requirements = regexp("^LIN", OpSys) ]');
    const r = matchAds(parseClassAd("[ Requirements = TARGET.Memory > 1024 ]"), machine, new EvalBudget({ steps: 1000, ms: 1000 }));
    expect(r.match).toBe(true);
  });
});
