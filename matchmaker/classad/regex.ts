// regexp() and friends, after fnCall.cpp's regexp_helper over PCRE2. JavaScript's RegExp differs
// from PCRE2 in syntax and in having no match limit, so:
//  - patterns are translated from PCRE where the syntax differs (option x, \A \z \Z, a leading
//    (?i) / (?m) / (?s) / (?x) group), and compiled once per (pattern, options);
//  - a subject lacking a character every match needs is no match at once, as PCRE2's
//    required-code-unit check answers before any backtracking (regex-required.ts);
//  - a pattern is "tame" when it has no quantifier, or a single quantifier and the subject is
//    at most 4 KiB: these cannot backtrack badly and run directly;
//  - every other pattern runs in a node:vm context (a pure in-process sandbox, no I/O) under a
//    time limit: at most REGEX_CALL_BUDGET_MS per call and REGEX_EVAL_BUDGET_MS of CPU for all
//    calls of one evaluation, and never past the CPU allowance of an EvalBudget it runs under.
//    Running out is PCRE2's PCRE2_ERROR_MATCHLIMIT, which regexp_helper turns into error; running
//    out of an EvalBudget ends the whole piece of work (EvalBudgetExceeded).
//  Subjects longer than 1 MiB are refused (error) outright.
import vm from "node:vm";
import { cpuMs, EvalBudgetExceeded, type EvalBudget } from "./eval-budget.ts";
import { holdsRequired, requiredChars } from "./regex-required.ts";

/** The time one search may take, about what PCRE2's default match limit (10,000,000) costs in C. */
export const REGEX_CALL_BUDGET_MS = 200;
/** The time all the searches of one evaluation may take together. */
export const REGEX_EVAL_BUDGET_MS = 200;

/** What a search may spend: the evaluation's regexp time left, and the budget it runs under. */
export interface RegexAllowance {
  regexMs: number;
  readonly budget: EvalBudget | null;
}
export const MAX_REGEX_SUBJECT = 1 << 20;
const TAME_SUBJECT = 4096;

interface Compiled {
  readonly source: string;
  readonly flags: string;
  readonly re: RegExp;
  readonly quantifiers: number;
  /** Characters every match contains (lower-cased when caseless). */
  readonly required: ReadonlySet<string>;
  readonly caseless: boolean;
}

const cache = new Map<string, Compiled | null>();

type Visit = (c: string, i: number) => [string, number];
const keep: Visit = (c, i) => [c, i];

/**
 * Walks a pattern as PCRE reads it: an escape passes as it is; a character class runs from `[` to
 * its closing `]`, and a `]` right after `[` or `[^` is a member, which JavaScript would take for
 * the end (written `\]`). `outside` sees each other character outside classes, `inside` each one
 * inside; each returns its replacement and the index to continue from. Every rewrite below and the
 * quantifier count walk the pattern through here, so they agree on where classes are.
 */
function walkPattern(p: string, outside: Visit, inside: Visit = keep): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") {
      out += c + (p[i + 1] ?? "");
      i++;
    } else if (!inClass && c === "[") {
      inClass = true;
      out += c;
      if (p[i + 1] === "^") out += p[++i];
      if (p[i + 1] === "]") out += "\\" + p[++i];
    } else if (inClass && c === "]") {
      inClass = false;
      out += c;
    } else {
      const [text, last] = (inClass ? inside : outside)(c, i);
      out += text;
      i = last;
    }
  }
  return out;
}

/** PCRE's `x` option: white space and `#` comments outside classes are not part of the pattern. */
function stripExtended(p: string): string {
  return walkPattern(p, (c, i) => {
    if (c === "#") {
      let j = i;
      while (j < p.length && p[j] !== "\n") j++;
      return ["", j];
    }
    return [/\s/.test(c) ? "" : c, i];
  });
}

/** PCRE's `$` without `m` also matches before a final newline. */
function pcreDollar(p: string): string {
  return walkPattern(p, (c, i) => [c === "$" ? "(?=\\n?(?![\\s\\S]))" : c, i]);
}

// PCRE's bracket expressions where JavaScript's differ: POSIX classes like [[:digit:]] (ASCII, as
// HTCondor compiles without PCRE2_UCP) and a "]" first in the class, which PCRE takes literally.
const POSIX_CLASSES: Record<string, string> = {
  alpha: "a-zA-Z", digit: "0-9", alnum: "a-zA-Z0-9", upper: "A-Z", lower: "a-z", space: "\\t\\n\\v\\f\\r ",
  blank: " \\t", punct: "!-\\/:-@\\[-`{-~", xdigit: "0-9A-Fa-f", word: "a-zA-Z0-9_", cntrl: "\\x00-\\x1f\\x7f",
  print: "\\x20-\\x7e", graph: "\\x21-\\x7e", ascii: "\\x00-\\x7f",
};

function bracketExpressions(p: string): string {
  if (!p.includes("[")) return p;
  return walkPattern(p, keep, (c, i) => {
    if (c !== "[" || p[i + 1] !== ":") return [c, i];
    const m = /^\[:([a-z]+):\]/.exec(p.slice(i));
    const set = m ? POSIX_CLASSES[m[1]] : undefined;
    return m && set !== undefined ? [set, i + m[0].length - 1] : [c, i];
  });
}

function countQuantifiers(p: string): number {
  let n = 0;
  walkPattern(p, (c, i) => {
    if (c === "*" || c === "+" || c === "{" || c === "|") n++;
    return [c, i];
  });
  if (/\\[1-9]/.test(p)) n += 2;
  return n;
}

/**
 * Whether the pattern refers back to a group it does not have, which PCRE2 refuses to compile
 * ("reference to non-existent subpattern") where JavaScript reads `\1` without a group as an octal
 * escape. PCRE2 takes `\N` outside a class as a back reference when N < 10, starts with 8 or 9, or
 * is at most the number of capture groups (counted over the whole pattern); else as octal.
 */
/** PCRE's other spellings of a named group, (?P<n>...) and (?'n'...), and of its reference (?P=n), in JavaScript's. */
function namedGroups(p: string): string {
  if (!p.includes("(?")) return p;
  return walkPattern(p, (c, i) => {
    if (c !== "(" || p[i + 1] !== "?") return [c, i];
    const m = /^\(\?(?:P<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|P=([A-Za-z_]\w*)\))/.exec(p.slice(i));
    if (!m) return [c, i];
    return [m[3] !== undefined ? `\\k<${m[3]}>` : `(?<${m[1] ?? m[2]}>`, i + m[0].length - 1];
  });
}

function refersToMissingGroup(p: string): boolean {
  if (!/\\[1-9]/.test(p)) return false;
  let groups = 0;
  const refs: string[] = [];
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") {
      const digits = inClass ? null : /^[1-9]\d*/.exec(p.slice(i + 1));
      if (digits) refs.push(digits[0]);
      i++;
    } else if (inClass) {
      if (c === "]") inClass = false;
    } else if (c === "[") {
      inClass = true;
      if (p[i + 1] === "^") i++;
      if (p[i + 1] === "]") i++;
    } else if (c === "(" && (p[i + 1] !== "?" ? p[i + 1] !== "*" : /^\?(?:P?<(?![=!])|')/.test(p.slice(i + 1)))) groups++;
  }
  return refs.some((r) => {
    const n = Number(r);
    return (n < 10 || r[0] === "8" || r[0] === "9" || n <= groups) && n > groups;
  });
}

function compile(pattern: string, options: string): Compiled | null {
  const key = options + "\u0000" + pattern;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let flags = "";
  let p = pattern;
  const inline = /^\(\?([imsx]+)\)/.exec(p);
  if (inline) {
    options += inline[1];
    p = p.slice(inline[0].length);
  }
  if (options.includes("i")) flags += "i";
  if (options.includes("m")) flags += "m";
  if (options.includes("s")) flags += "s";
  if (options.includes("x")) p = stripExtended(p);
  p = namedGroups(p);
  if (refersToMissingGroup(p)) {
    cache.set(key, null);
    return null;
  }
  const required = requiredChars(p, flags.includes("i"));
  p = bracketExpressions(p);
  p = p.replace(/\\A/g, "^(?<![\\s\\S])").replace(/\\z/g, "(?![\\s\\S])").replace(/\\Z/g, "(?=\\n?(?![\\s\\S]))");
  // PCRE's $ (without m) also matches before a final newline; JavaScript's does not.
  if (!flags.includes("m")) p = pcreDollar(p);
  let compiled: Compiled | null;
  try {
    compiled = { source: p, flags, re: new RegExp(p, flags), quantifiers: countQuantifiers(p), required, caseless: flags.includes("i") };
  } catch {
    compiled = null;
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(key, compiled);
  return compiled;
}

let sandbox: vm.Context | null = null;
let matchScript: vm.Script | null = null;
let replaceScript: vm.Script | null = null;
let notEmptyScript: vm.Script | null = null;

interface SandboxGlobals {
  p: string;
  f: string;
  t: string;
  r: string;
  g: boolean;
  out: unknown;
}

/**
 * PCRE2_NOTEMPTY in JavaScript: from each start, a sticky match of the pattern that must end past
 * the start (a lookbehind anchored at the start of input counts the characters before its end).
 */
const NOT_EMPTY_SEARCH =
  "out = (() => { for (let s = 0; s < t.length; s++) { const re = new RegExp('(?:' + p + ')(?<=(?<![\\\\s\\\\S])[\\\\s\\\\S]{' + (s + 1) + ',})', f + 'y'); re.lastIndex = s; if (re.test(t)) return true; } return false; })()";

/**
 * Runs `script` in the sandbox within the allowance; undefined when the time ran out (PCRE2's match
 * limit). Throws EvalBudgetExceeded when the allowance's EvalBudget is what ran out.
 */
function budgeted(a: RegexAllowance | null, script: "match" | "replace" | "notempty", c: Compiled, subject: string, replacement = "", global = false): unknown {
  const budgetMs = a?.budget ? a.budget.msLeft() : Infinity;
  const ms = Math.min(REGEX_CALL_BUDGET_MS, a ? a.regexMs : REGEX_EVAL_BUDGET_MS, budgetMs);
  if (ms < 1) {
    if (budgetMs < 1) throw new EvalBudgetExceeded("the time allowance ran out in a regular-expression search");
    return undefined;
  }
  // The allowances are CPU time (see eval-budget.ts); the sandbox's own limit is wall-clock, so on a
  // loaded machine one search may get less CPU than its share, never more.
  const start = cpuMs();
  try {
    return inSandbox(script, c, subject, Math.ceil(ms), replacement, global);
  } catch {
    if (a?.budget && a.budget.msLeft() < 1) throw new EvalBudgetExceeded("the time allowance ran out in a regular-expression search");
    return undefined;
  } finally {
    if (a) a.regexMs -= cpuMs() - start;
  }
}

function inSandbox(script: "match" | "replace" | "notempty", c: Compiled, subject: string, timeout: number, replacement = "", global = false): unknown {
  if (!sandbox) {
    sandbox = vm.createContext({ p: "", f: "", t: "", r: "", g: false, out: null } satisfies SandboxGlobals);
    matchScript = new vm.Script("out = (() => { const m = new RegExp(p, f).exec(t); return m ? Array.from(m, (x) => x === undefined ? '' : x).concat([m.index]) : null; })()");
    replaceScript = new vm.Script(
      "out = (() => { const re = new RegExp(p, g ? f + 'g' : f); const parts = []; let m; let last = 0; while ((m = re.exec(t)) !== null) { parts.push([m.index, m.index + m[0].length, Array.from(m.slice(0, m.findLastIndex((x) => x !== undefined) + 1), (x) => x === undefined ? '' : x)]); if (!g) break; if (m[0].length === 0) re.lastIndex++; } return parts; })()",
    );
    notEmptyScript = new vm.Script(NOT_EMPTY_SEARCH);
  }
  const ctx = sandbox as unknown as SandboxGlobals;
  ctx.p = c.source;
  ctx.f = c.flags;
  ctx.t = subject;
  ctx.r = replacement;
  ctx.g = global;
  ctx.out = null;
  (script === "match" ? matchScript : script === "replace" ? replaceScript : notEmptyScript)!.runInContext(sandbox, { timeout });
  return ctx.out;
}

function tame(c: Compiled, subject: string): boolean {
  return c.quantifiers === 0 || (c.quantifiers === 1 && subject.length <= TAME_SUBJECT);
}

/** true / false, or null when the pattern is invalid or the search ran out of time (error). */
export function regexTest(pattern: string, subject: string, options: string, a: RegexAllowance | null = null): boolean | null {
  const c = compile(pattern, options);
  if (!c || subject.length > MAX_REGEX_SUBJECT) return null;
  if (!holdsRequired(subject, c.required, c.caseless)) return false;
  if (tame(c, subject)) {
    c.re.lastIndex = 0;
    return c.re.test(subject);
  }
  const r = budgeted(a, "match", c, subject);
  return r === undefined ? null : r !== null;
}

/** Whether the pattern compiles (PCRE syntax, as translated here). */
export function regexValid(pattern: string, options: string): boolean {
  return compile(pattern, options) !== null;
}

/** A search with PCRE2_NOTEMPTY: true when some match is not empty; null when invalid or out of budget. */
export function regexTestNotEmpty(pattern: string, subject: string, options: string, a: RegexAllowance | null = null): boolean | null {
  const c = compile(pattern, options);
  if (!c || subject.length > MAX_REGEX_SUBJECT) return null;
  if (!holdsRequired(subject, c.required, c.caseless)) return false;
  if (!tame(c, subject)) {
    const r = budgeted(a, "notempty", c, subject);
    return r === undefined ? null : r === true;
  }
  for (let s = 0; s < subject.length; s++) {
    const re = new RegExp(`(?:${c.source})(?<=(?<![\\s\\S])[\\s\\S]{${s + 1},})`, c.flags + "y");
    re.lastIndex = s;
    if (re.test(subject)) return true;
  }
  return false;
}

interface MatchPart {
  readonly start: number;
  readonly end: number;
  readonly groups: readonly string[];
}

/** Groups as PCRE counts them: up to the last one that took part in the match (unset ones inside are ""). */
function setGroups(m: RegExpExecArray): string[] {
  let n = m.length;
  while (n > 1 && m[n - 1] === undefined) n--;
  return Array.from(m.slice(0, n), (x) => x ?? "");
}

function findMatches(c: Compiled, subject: string, global: boolean, a: RegexAllowance | null): MatchPart[] | null {
  if (!holdsRequired(subject, c.required, c.caseless)) return [];
  if (tame(c, subject)) {
    const re = new RegExp(c.source, global ? c.flags + "g" : c.flags);
    const parts: MatchPart[] = [];
    let m: RegExpExecArray | null;
    while ((m = re.exec(subject)) !== null) {
      parts.push({ start: m.index, end: m.index + m[0].length, groups: setGroups(m) });
      if (!global) break;
      if (m[0].length === 0) re.lastIndex++;
    }
    return parts;
  }
  const raw = budgeted(a, "replace", c, subject, "", global) as [number, number, string[]][] | undefined;
  return raw === undefined ? null : raw.map(([start, end, groups]) => ({ start, end, groups }));
}

/**
 * regexps/replace/replaceAll: `\N` in the replacement is capture group N (error if there is
 * no such group). Without `full` the result is only the replacement text of the first match.
 */
export function regexReplace(pattern: string, subject: string, replacement: string, options: string, full: boolean, global: boolean, a: RegexAllowance | null = null): string | null {
  const c = compile(pattern, options);
  if (!c || subject.length > MAX_REGEX_SUBJECT) return null;
  const parts = findMatches(c, subject, global, a);
  if (!parts) return null;
  // HTCondor's global loop steps past an empty match at the very end and then asks PCRE to
  // start beyond the subject, which fails: error.
  if (global && parts.some((m) => m.start === subject.length && m.end === subject.length)) return null;
  let out = "";
  let idx = 0;
  for (const m of parts) {
    if (full) out += subject.slice(idx, m.start);
    for (let i = 0; i < replacement.length; i++) {
      const ch = replacement[i];
      if (ch === "\\" && /[0-9]/.test(replacement[i + 1] ?? "")) {
        const g = replacement.charCodeAt(++i) - 48;
        if (g >= m.groups.length) return null;
        out += m.groups[g];
      } else out += ch;
    }
    idx = m.end;
  }
  if (full) out += subject.slice(idx);
  return out;
}
