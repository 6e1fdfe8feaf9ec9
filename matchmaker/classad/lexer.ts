// Tokens of the ClassAd language, following HTCondor's lexer: a '-' right after an operator
// starts a negative number literal; adjacent string literals are concatenated; 'name' is a
// quoted attribute name; an integer literal may not start with 0 (017, 0x1F, 00 are errors:
// HTCondor's tools run the lexer with old-ClassAd semantics, which refuse octal and hex),
// integers are read in base 10 like from_chars; "1." without digits after the dot is an error.
// With new-ClassAd ("strict") semantics lexer.cpp accepts a leading 0: digits 0-7 after it, or
// 0x and hexadecimal digits, but still reads the text with from_chars in base 10, so in the
// library we follow 017 is 17 and 0x1F is 0; 019 stays an error (a bad octal constant).
import { ClassAdParseError } from "./parse-error.ts";

export type TokenType =
  | "int" | "real" | "string" | "bool" | "undefined" | "error" | "ident"
  | "(" | ")" | "[" | "]" | "{" | "}" | "," | ";" | "=" | "." | "?" | ":" | "?:"
  | "<" | "<=" | ">" | ">=" | "==" | "!=" | "=?=" | "=!=" | "is" | "isnt"
  | "+" | "-" | "*" | "/" | "%" | "!" | "~" | "&" | "|" | "^" | "&&" | "||" | "<<" | ">>" | ">>>"
  | "eof" | "bad";

export interface Token {
  readonly type: TokenType;
  readonly text: string;
  readonly int?: bigint | number;
  readonly real?: number;
  readonly bool?: boolean;
  readonly line: number;
  readonly column: number;
}

/** ClassAd strings are byte strings in HTCondor; we keep one char per UTF-8 byte so size() and substr() agree. */
export function toByteString(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  const bytes = new TextEncoder().encode(text);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
}

const AFTER_VALUE: ReadonlySet<TokenType> = new Set(["int", "real", "bool", "string", "undefined", "error", "ident", ".", "]", ")", "}"]);

const TWO_CHAR: ReadonlySet<string> = new Set(["<=", ">=", "==", "!=", "&&", "||", "<<", ">>"]);
const ONE_CHAR: ReadonlySet<string> = new Set("()[]{},;=.?:<>+-*/%!~&|^");
/** Characters that start no longer operator: a token of their own, with no look-ahead. */
const ONE_ONLY: ReadonlySet<string> = new Set("()[]{},;.:+-*/%~^");

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isAlpha = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const isSpace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\v" || c === "\f";
const isOctal = (c: string): boolean => c >= "0" && c <= "7";
const isHex = (c: string): boolean => isDigit(c) || (c >= "a" && c <= "f") || (c >= "A" && c <= "F");

/** C's convert_escapes: \n \t \" \\ \' \? \a \b \f \r \v and up to three octal digits; \0 is invalid. */
export function convertEscapes(raw: string): string | null {
  if (!raw.includes("\\")) return raw;
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    let ch = raw[i];
    if (ch === "\\" && i < raw.length - 1) {
      ch = raw[++i];
      switch (ch) {
        case "a": ch = "\x07"; break;
        case "b": ch = "\b"; break;
        case "f": ch = "\f"; break;
        case "n": ch = "\n"; break;
        case "r": ch = "\r"; break;
        case "t": ch = "\t"; break;
        case "v": ch = "\v"; break;
        default:
          if (isOctal(ch)) {
            let n = ch.charCodeAt(0) - 48;
            if (i + 1 < raw.length && isOctal(raw[i + 1])) {
              n = (n << 3) + raw.charCodeAt(++i) - 48;
              if (n < 0x20 && i + 1 < raw.length && isOctal(raw[i + 1])) n = (n << 3) + raw.charCodeAt(++i) - 48;
            }
            n &= 0xff;
            if (n === 0) return null;
            ch = String.fromCharCode(n);
          }
      }
    }
    out += ch;
  }
  return out;
}

export class Lexer {
  private readonly src: string;
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private last: TokenType = "eof";
  private peeked: Token | null = null;
  private tokLine = 1;
  private tokColumn = 1;
  private readonly tok = (type: TokenType, text: string, extra?: Partial<Token>): Token => {
    this.last = type;
    const t: Token = { type, text, line: this.tokLine, column: this.tokColumn };
    return extra ? { ...t, ...extra } : t;
  };

  /** A token the lexer could not read, kept until the parser consumes it (lexer.cpp's LEX_TOKEN_ERROR). */
  private bad: ClassAdParseError | null = null;

  constructor(
    text: string,
    readonly strict = false,
    /** lexer.cpp's old-ClassAd strings (SetOldClassAdLex), as an ad's lines are read: see stringOld. */
    readonly oldStrings = false,
  ) {
    // HTCondor reads its input as a C string (lexerSource.h): a NUL ends it.
    const nul = text.indexOf("\0");
    this.src = toByteString(nul < 0 ? text : text.slice(0, nul));
  }

  /**
   * The next token, not consumed. Text that is no token peeks as a token of type "bad", as
   * lexer.cpp's LEX_TOKEN_ERROR, which no rule accepts: the parser fails where it consumes it.
   */
  peek(): Token {
    if (!this.peeked) {
      try {
        this.peeked = this.scan();
      } catch (e) {
        if (!(e instanceof ClassAdParseError)) throw e;
        this.bad = e;
        this.peeked = { type: "bad", text: e.message, line: e.line, column: e.column };
      }
    }
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    if (t.type === "bad" && this.bad) throw this.bad;
    this.peeked = null;
    return t;
  }

  fail(message: string, at?: Token): never {
    if (at?.type === "bad" && this.bad) throw this.bad;
    const line = at ? at.line : this.line;
    const column = at ? at.column : this.pos - this.lineStart + 1;
    throw new ClassAdParseError(line, column, message);
  }

  private ch(offset = 0): string {
    return this.src[this.pos + offset] ?? "";
  }

  private advance(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.src[this.pos] === "\n") {
        this.line++;
        this.lineStart = this.pos + 1;
      }
      this.pos++;
    }
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.ch();
      if (isSpace(c)) this.advance();
      else if (c === "/" && this.ch(1) === "/") {
        while (this.pos < this.src.length && this.ch() !== "\n") this.advance();
      } else if (c === "/" && this.ch(1) === "*") {
        const line = this.line;
        const column = this.pos - this.lineStart + 1;
        const end = this.src.indexOf("*/", this.pos + 2);
        if (end < 0) throw new ClassAdParseError(line, column, "comment '/*' is never closed with '*/'");
        this.advance(end + 2 - this.pos);
      } else return;
    }
  }

  private scan(): Token {
    this.skipSpaceAndComments();
    this.tokLine = this.line;
    this.tokColumn = this.pos - this.lineStart + 1;
    const tok = this.tok;
    if (this.pos >= this.src.length) return tok("eof", "end of input");
    const c = this.ch();
    if (c === "-" && !AFTER_VALUE.has(this.last)) {
      const n = this.ch(1);
      if (isDigit(n) || (n === "." && isDigit(this.ch(2)))) return this.number(tok);
    }
    if (isDigit(c) || (c === "." && isDigit(this.ch(1)))) return this.number(tok);
    if (c === "." && this.ch(1) === ".") {
      // lexer.cpp's tokenizeNumber takes a second '.' into the token: `..a` is the selection `.a`,
      // `..5` a real that strtod reads as 0.
      if (isDigit(this.ch(2))) return this.number(tok);
      this.advance(2);
      return tok(".", "..");
    }
    if (isAlpha(c) || c === "_") {
      const start = this.pos;
      while (isAlpha(this.ch())) this.advance();
      if (isDigit(this.ch()) || this.ch() === "_") {
        while (isAlpha(this.ch()) || isDigit(this.ch()) || this.ch() === "_") this.advance();
        return tok("ident", this.src.slice(start, this.pos));
      }
      const word = this.src.slice(start, this.pos);
      // Only words of a keyword's length need folding: most identifiers are not keywords.
      const n = word.length;
      if (n !== 2 && n !== 4 && n !== 5 && n !== 9) return tok("ident", word);
      switch (word.toLowerCase()) {
        case "true": return tok("bool", word, { bool: true });
        case "false": return tok("bool", word, { bool: false });
        case "undefined": return tok("undefined", word);
        case "error": return tok("error", word);
        case "is": return tok("=?=", word);
        case "isnt": return tok("=!=", word);
        default: return tok("ident", word);
      }
    }
    if (c === '"' || c === "'") return this.string(c, tok);
    if (ONE_ONLY.has(c)) {
      this.advance();
      return tok(c as TokenType, c);
    }
    const three = this.src.substr(this.pos, 3);
    const two = three.slice(0, 2);
    if (three === "=?=" || three === "=!=" || three === ">>>") {
      this.advance(3);
      return tok(three as TokenType, three);
    }
    if (c === "=" && this.ch(1) === "?") this.fail("'=?' must be followed by '=' (the operator is '=?=')");
    if (c === "?") {
      // HTCondor allows whitespace inside the elvis operator: `a ? : b`.
      let p = this.pos + 1;
      while (isSpace(this.src[p] ?? "")) p++;
      if (this.src[p] === ":") {
        this.advance(p + 1 - this.pos);
        return tok("?:", "?:");
      }
    }
    if (TWO_CHAR.has(two)) {
      this.advance(2);
      return tok(two as TokenType, two);
    }
    if (ONE_CHAR.has(c)) {
      this.advance();
      return tok(c as TokenType, c);
    }
    this.fail(`unexpected character '${c.charCodeAt(0) < 32 || c.charCodeAt(0) > 126 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}` : c}'`);
  }

  private number(tok: (type: TokenType, text: string, extra?: Partial<Token>) => Token): Token {
    const start = this.pos;
    if (this.ch() === "-") this.advance();
    let isReal = false;
    if (this.ch() === "0" && (this.ch(1) === "x" || this.ch(1) === "X")) {
      this.advance(2);
      if (!isHex(this.ch())) this.fail("'0x' must be followed by hexadecimal digits");
      while (isHex(this.ch())) this.advance();
    } else {
      if (this.ch() === "." && this.ch(1) === ".") this.advance();
      while (isDigit(this.ch())) this.advance();
      if (this.ch() === ".") {
        this.advance();
        if (!isDigit(this.ch())) {
          if (this.pos - start > 1 || this.src[start] !== ".") this.fail(`a number needs digits after its decimal point: '${this.src.slice(start, this.pos)}'`);
        }
        isReal = true;
        while (isDigit(this.ch())) this.advance();
      }
      if (this.ch() === "e" || this.ch() === "E") {
        isReal = true;
        this.advance();
        if (this.ch() === "+" || this.ch() === "-") this.advance();
        if (!isDigit(this.ch())) this.fail(`a number's exponent needs digits: '${this.src.slice(start, this.pos)}'`);
        while (isDigit(this.ch())) this.advance();
      }
    }
    const text = this.src.slice(start, this.pos);
    if (isReal) return tok("real", text, { real: text.startsWith("..") ? 0 : Number(text) });
    if (text[0] === "0" && text.length > 1) {
      if (!this.strict) this.fail(`'${text}': an integer may not start with 0 (ClassAds have no octal or hexadecimal literals)`);
      if (text[1] !== "x" && text[1] !== "X" && /[89]/.test(text)) this.fail(`'${text}': not an octal number`);
    }
    if (text.length <= 15 && /^-?\d+$/.test(text)) return tok("int", text, { int: Number(text) });
    // from_chars in base 10: stops at the first non-digit, leaves 0 on overflow.
    const m = /^-?\d+/.exec(text);
    let v = m ? BigInt(m[0]) : 0n;
    if (v > 2n ** 63n - 1n || v < -(2n ** 63n)) v = 0n;
    return tok("int", text, { int: v });
  }

  private string(delim: string, tok: (type: TokenType, text: string, extra?: Partial<Token>) => Token): Token {
    if (this.oldStrings) return this.stringOld(delim, tok);
    let raw = "";
    for (;;) {
      const startLine = this.line;
      const startCol = this.pos - this.lineStart + 1;
      this.advance();
      let odd = false;
      const begin = this.pos;
      while (this.pos < this.src.length) {
        const c = this.ch();
        if (c === delim && !odd) break;
        odd = c === "\\" ? !odd : false;
        this.advance();
      }
      if (this.pos >= this.src.length) throw new ClassAdParseError(startLine, startCol, `${delim === '"' ? "string" : "quoted name"} starting here is never closed with ${delim}`);
      raw += this.src.slice(begin, this.pos);
      this.advance();
      // Adjacent literals with the same quote are one literal, as in C.
      let p = this.pos;
      while (isSpace(this.src[p] ?? "")) p++;
      if (this.src[p] === delim) {
        this.advance(p - this.pos);
        continue;
      }
      break;
    }
    const value = convertEscapes(raw);
    if (value === null) this.fail("a string may not contain the NUL character (\\0)");
    return delim === '"' ? tok("string", value) : tok("ident", value);
  }

  /**
   * lexer.cpp tokenizeStringOld, how HTCondor reads the strings of an ad's `name = value` lines
   * (condor_q -long text, ads on the wire): no escapes, so `"C:\dir\x"` keeps its backslashes
   * and `"\d+"` is a regex of a digit; a backslash right before the quote makes the quote part of
   * the string when anything but a newline follows it (the backslash is dropped), otherwise the
   * string ends with the backslash. Adjacent literals are not joined.
   */
  private stringOld(delim: string, tok: (type: TokenType, text: string, extra?: Partial<Token>) => Token): Token {
    const startLine = this.line;
    const startCol = this.pos - this.lineStart + 1;
    this.advance();
    let value = "";
    for (;;) {
      let prev = "";
      while (this.pos < this.src.length && this.ch() !== delim) {
        prev = this.ch();
        value += prev;
        this.advance();
      }
      if (this.pos >= this.src.length) throw new ClassAdParseError(startLine, startCol, `${delim === '"' ? "string" : "quoted name"} starting here is never closed with ${delim}`);
      if (prev !== "\\") {
        this.advance();
        break;
      }
      const after = this.src[this.pos + 1];
      if (after !== undefined && after !== "\n") {
        value = value.slice(0, -1) + delim;
        this.advance();
        continue;
      }
      // The string ends with the backslash; lexer.cpp has read the character after the quote too.
      this.advance(after === undefined ? 1 : 2);
      break;
    }
    return delim === '"' ? tok("string", value) : tok("ident", value);
  }
}
