// Recursive-descent parser with HTCondor's grammar and precedence (K&R order, lowest first):
// ?: , || , && , | , ^ , & , == != is isnt , < <= > >= , << >> >>> , + - , * / % ,
// unary + - ! ~ , postfix . [] ?: (elvis binds like a postfix operator, as in HTCondor).
// Nesting is bounded like HTCondor's parser (500 guarded levels) so hostile input gives a
// parse error rather than a stack overflow.
import { attrRef, exprDepth, literal, relTimeLiteral, type BinaryOp, type Expr, type UnaryOp } from "./ast.ts";
import { Lexer, type Token, type TokenType } from "./lexer.ts";
import { isKnownFunction } from "./functions.ts";
import { parseAbsTime, parseRelTime } from "./time-text.ts";
import { absTimeValue, boolValue, ERROR, intValue, realValue, stringValue, UNDEFINED } from "./value.ts";

export const MAX_PARSE_DEPTH = 500;
/**
 * HTCondor's parser loops over chains like 1+1+...+1 without a depth guard; their trees can
 * only evaluate to error there (evaluation depth is capped at 400). We refuse trees deeper
 * than this at parse time so that no later tree walk can exhaust the JavaScript stack.
 */
export const MAX_TREE_DEPTH = 2000;

export interface ParseWarning {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

const BINARY_LEVELS: readonly (readonly [TokenType, BinaryOp][])[] = [
  [["||", "||"]],
  [["&&", "&&"]],
  [["|", "|"]],
  [["^", "^"]],
  [["&", "&"]],
  [["==", "=="], ["!=", "!="], ["=?=", "is"], ["=!=", "isnt"]],
  [["<", "<"], ["<=", "<="], [">", ">"], [">=", ">="]],
  [["<<", "<<"], [">>", ">>"], [">>>", ">>>"]],
  [["+", "+"], ["-", "-"]],
  [["*", "*"], ["/", "/"], ["%", "%"]],
];
const LEVEL_MAPS = BINARY_LEVELS.map((l) => new Map(l));

export class Parser {
  private depth = 0;
  readonly warnings: ParseWarning[] = [];

  /**
   * Whether trees can grow deeper than MAX_TREE_DEPTH at all: every level takes at least one
   * character of source, so a shorter text never needs the (costly) depth checks.
   */
  private readonly checkDepth: boolean;

  constructor(
    private readonly lex: Lexer,
    sourceLength = Infinity,
  ) {
    this.checkDepth = sourceLength > MAX_TREE_DEPTH;
  }

  /** `strict`: new-ClassAd semantics' lexer (integer literals may start with 0); `oldStrings`: see Lexer. */
  static forText(text: string, strict = false, oldStrings = false): Parser {
    return new Parser(new Lexer(text, strict, oldStrings), text.length);
  }

  expectEnd(): void {
    const t = this.lex.peek();
    if (t.type !== "eof") this.lex.fail(`unexpected '${t.text}' after the end of the expression`, t);
  }

  private enter(): void {
    if (++this.depth > MAX_PARSE_DEPTH) this.lex.fail(`expression nested too deeply (more than ${MAX_PARSE_DEPTH} levels)`);
  }

  expression(): Expr {
    this.enter();
    try {
      const cond = this.binary(0);
      if (this.lex.peek().type !== "?") return cond;
      this.lex.next();
      const then = this.expression();
      const colon = this.lex.next();
      if (colon.type !== ":") this.lex.fail(`expected ':' of the conditional 'c ? a : b', found '${colon.text}'`, colon);
      const otherwise = this.expression();
      return { type: "ternary", cond, then, else: otherwise };
    } finally {
      this.depth--;
    }
  }

  private binary(level: number): Expr {
    if (level >= LEVEL_MAPS.length) return this.unary();
    const ops = LEVEL_MAPS[level];
    let left = this.binary(level + 1);
    for (;;) {
      const op = ops.get(this.lex.peek().type);
      if (!op) return left;
      this.lex.next();
      const right = this.binary(level + 1);
      left = { type: "binary", op, left, right };
      if (this.checkDepth && exprDepth(left) > MAX_TREE_DEPTH) this.lex.fail(`expression nested too deeply (an operator chain more than ${MAX_TREE_DEPTH} levels deep)`);
    }
  }

  private unary(): Expr {
    this.enter();
    try {
      const t = this.lex.peek().type;
      if (t === "-" || t === "+" || t === "!" || t === "~") {
        this.lex.next();
        const operand = this.unary();
        return { type: "unary", op: t as UnaryOp, operand };
      }
      return this.postfix();
    } finally {
      this.depth--;
    }
  }

  private postfix(): Expr {
    this.enter();
    try {
      let e = this.primary();
      for (;;) {
        const t = this.lex.peek();
        if (t.type === "[") {
          this.lex.next();
          const index = this.expression();
          const close = this.lex.next();
          if (close.type !== "]") this.lex.fail(`expected ']' to close the subscript, found '${close.text}'`, close);
          e = { type: "subscript", base: e, index };
          if (this.checkDepth && exprDepth(e) > MAX_TREE_DEPTH) this.lex.fail(`expression nested too deeply (more than ${MAX_TREE_DEPTH} levels)`);
        } else if (t.type === "?:") {
          this.lex.next();
          e = { type: "elvis", left: e, right: this.postfix() };
        } else if (t.type === ".") {
          this.lex.next();
          const name = this.lex.next();
          if (name.type !== "ident") this.lex.fail(`expected an attribute name after '.', found '${name.text}'`, name);
          e = attrRef(name.text, e, false);
          if (this.checkDepth && exprDepth(e) > MAX_TREE_DEPTH) this.lex.fail(`expression nested too deeply (more than ${MAX_TREE_DEPTH} levels)`);
        } else return e;
      }
    } finally {
      this.depth--;
    }
  }

  private primary(): Expr {
    const t = this.lex.next();
    switch (t.type) {
      case "ident": {
        if (this.lex.peek().type === "(") return this.call(t);
        return attrRef(t.text);
      }
      case ".": {
        const name = this.lex.next();
        if (name.type !== "ident") this.lex.fail(`expected an attribute name after '.', found '${name.text}'`, name);
        return attrRef(name.text, null, true);
      }
      case "(": {
        const inner = this.expression();
        const close = this.lex.next();
        if (close.type !== ")") this.lex.fail(`expected ')' to close '(', found '${close.text}'`, close);
        return { type: "paren", inner };
      }
      case "[":
        return this.recordBody(t);
      case "{":
        return this.listBody(t);
      case "undefined":
        return literal(UNDEFINED);
      case "error":
        return literal(ERROR);
      case "bool":
        return literal(boolValue(t.bool === true));
      case "int":
        return literal(intValue(t.int ?? 0));
      case "real":
        return literal(realValue(t.real ?? 0));
      case "string":
        return literal(stringValue(t.text));
      case "eof":
        return this.lex.fail("the expression ends too early", t);
      default:
        return this.lex.fail(`unexpected '${t.text}' where a value, attribute name or '(' was expected`, t);
    }
  }

  private call(name: Token): Expr {
    this.lex.next();
    const args: Expr[] = [];
    if (this.lex.peek().type === ")") this.lex.next();
    else {
      for (;;) {
        args.push(this.expression());
        const sep = this.lex.next();
        if (sep.type === ")") break;
        // source.cpp parseArgumentList: with old-ClassAd semantics ';' separates arguments too.
        if (sep.type === ";" && !this.lex.strict) continue;
        if (sep.type !== ",") this.lex.fail(`expected ',' or ')' in the arguments of ${name.text}(), found '${sep.text}'`, sep);
      }
    }
    const lname = name.text.toLowerCase();
    const arg = args[0];
    // HTCondor folds absTime("...") and relTime("...") of a string literal into a time literal
    // while parsing (source.cpp shouldEvaluateAtParseTime); a string it cannot read is a parse error.
    if ((lname === "abstime" || lname === "reltime") && args.length === 1 && arg.type === "literal" && arg.value.kind === "string") {
      if (lname === "abstime") {
        const t = parseAbsTime(arg.value.value);
        if (t) return literal(absTimeValue(t.secs, t.offset));
      } else {
        const r = parseRelTime(arg.value.value);
        if (r !== null) return relTimeLiteral(r);
      }
      return this.lex.fail(`${name.text}() cannot read the time ${JSON.stringify(arg.value.value)}`, name);
    }
    if (!isKnownFunction(name.text)) this.warnings.push({ line: name.line, column: name.column, message: `unknown function '${name.text}' (evaluates to error)` });
    return { type: "call", name: name.text, args };
  }

  private listBody(open: Token): Expr {
    const items: Expr[] = [];
    if (this.lex.peek().type === "}") {
      this.lex.next();
      return { type: "list", items };
    }
    for (;;) {
      items.push(this.expression());
      const sep = this.lex.next();
      if (sep.type === "}") return { type: "list", items };
      if (sep.type !== ",") this.lex.fail(`expected ',' or '}' in the list opened at line ${open.line}, column ${open.column}, found '${sep.text}'`, sep);
    }
  }

  /** After '[': `name = expr ; ...`, extra semicolons tolerated as HTCondor does. */
  recordBody(open: Token): Expr {
    const attrs: (readonly [string, Expr])[] = [];
    const index = new Map<string, number>();
    for (;;) {
      let t = this.lex.next();
      const leading = t.type === ";" && attrs.length === 0;
      while (t.type === ";") t = this.lex.next();
      // source.cpp parseClassAd skips ';' before a name, but after one at the start it wants a
      // name: `[;]` is a parse error there (a ';' after a value may precede the ']').
      if (t.type === "]" && leading) this.lex.fail("expected an attribute name after ';' at the start of a record", t);
      if (t.type === "]") return { type: "record", attrs };
      if (t.type !== "ident") this.lex.fail(`expected an attribute name or ']' in the record opened at line ${open.line}, column ${open.column}, found '${t.text}'`, t);
      // ClassAd::Insert refuses an empty name, which fails the parse.
      if (t.text === "") this.lex.fail("an attribute name may not be empty ('')", t);
      const eq = this.lex.next();
      if (eq.type !== "=") this.lex.fail(`expected '=' after attribute name '${t.text}', found '${eq.text}'`, eq);
      const value = this.expression();
      const lname = t.text.toLowerCase();
      // A repeated name replaces the value and keeps the first spelling (HTCondor's Insert).
      const existing = index.get(lname);
      if (existing !== undefined) attrs[existing] = [attrs[existing][0], value];
      else {
        index.set(lname, attrs.length);
        attrs.push([t.text, value]);
      }
      const sep = this.lex.peek();
      if (sep.type !== ";" && sep.type !== "]") this.lex.fail(`expected ';' or ']' after the value of '${t.text}', found '${sep.text}'`, sep);
    }
  }

  /** A whole record `[ ... ]`, or HTCondor's "old" form: `name = expr` lines without brackets. */
  classAdText(): Expr {
    const first = this.lex.peek();
    if (first.type === "[") {
      this.lex.next();
      this.enter();
      try {
        return this.recordBody(first);
      } finally {
        this.depth--;
      }
    }
    if (first.type === "eof") return { type: "record", attrs: [] };
    return this.lex.fail(`a ClassAd starts with '[', found '${first.text}'`, first);
  }
}
