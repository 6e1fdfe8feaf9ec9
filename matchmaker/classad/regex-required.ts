// Characters every match of a pattern must contain. PCRE2 records such a "required code unit" when
// it compiles a pattern and, before trying to match, looks for it in the subject (pcre2_match.c;
// REQ_CU_MAX bounds that search for anchored patterns only): when it is absent the answer is "no
// match" at once, without backtracking. That is why HTCondor's regexp("(a|aa)*c", "aaaa...")
// answers false immediately where a plain backtracking engine runs for ever. We compute the same
// kind of fact from the pattern text and apply it before running JavaScript's engine; the check is
// exact (a subject without a required character cannot match), so it only ever saves time.
// Anything this reader does not understand (inline option changes, \Q...\E, verbs) gives no
// requirement, which is always safe.

/** Required characters (case-folded when `caseless`), or an empty set when none is known. */
export function requiredChars(pattern: string, caseless: boolean): ReadonlySet<string> {
  try {
    const r = new Reader(pattern, caseless);
    const req = r.alternation();
    return r.done() ? req : EMPTY;
  } catch {
    return EMPTY;
  }
}

/** Whether `subject` holds every required character (ASCII letters in either case when `caseless`). */
export function holdsRequired(subject: string, required: ReadonlySet<string>, caseless: boolean): boolean {
  if (required.size === 0) return true;
  const seen = caseless ? subject.toLowerCase() : subject;
  for (const c of required) if (!seen.includes(c)) return false;
  return true;
}

const EMPTY: ReadonlySet<string> = new Set();

class GiveUp extends Error {}

const SIMPLE_ESCAPES = new Set(["\\", ".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "|", "^", "$", "/", "-", "#", " ", "@", "%", "&", "'", '"', ",", ":", ";", "<", "=", ">", "!", "~", "`", "_"]);

class Reader {
  private i = 0;

  constructor(
    private readonly p: string,
    private readonly caseless: boolean,
  ) {}

  done(): boolean {
    return this.i === this.p.length;
  }

  /** branch ('|' branch)*: what every branch requires. */
  alternation(): Set<string> {
    let req = this.branch();
    while (this.p[this.i] === "|") {
      this.i++;
      const other = this.branch();
      req = new Set([...req].filter((c) => other.has(c)));
    }
    return req;
  }

  /** item*: everything any item requires. */
  private branch(): Set<string> {
    const req = new Set<string>();
    while (this.i < this.p.length && this.p[this.i] !== "|" && this.p[this.i] !== ")") {
      const item = this.atom();
      const min = this.quantifier();
      if (min > 0) for (const c of item) req.add(c);
    }
    return req;
  }

  /** The smallest repeat count of an optional quantifier after an atom (1 without one). */
  private quantifier(): number {
    const c = this.p[this.i];
    let min = 1;
    if (c === "*" || c === "?") {
      min = 0;
      this.i++;
    } else if (c === "+") this.i++;
    else if (c === "{") {
      const m = /^\{(\d*)(,\d*)?\}/.exec(this.p.slice(this.i));
      if (!m) return 1; // PCRE reads a "{" that starts no quantifier as a literal; the atom loop takes it.
      if (m[1] === "") throw new GiveUp();
      min = Number(m[1]);
      this.i += m[0].length;
    } else return 1;
    const next = this.p[this.i];
    if (next === "?" || next === "+") this.i++;
    return min;
  }

  private one(c: string): Set<string> {
    return new Set([this.caseless ? c.toLowerCase() : c]);
  }

  private atom(): Set<string> {
    const p = this.p;
    const c = p[this.i];
    if (c === "(") return this.group();
    if (c === "[") {
      this.skipClass();
      return new Set();
    }
    if (c === "\\") {
      const e = p[this.i + 1];
      if (e === undefined) throw new GiveUp();
      this.i += 2;
      if (SIMPLE_ESCAPES.has(e)) return this.one(e);
      // Letters and digits after a backslash are classes, anchors, back references or code points.
      if (e === "Q" || e === "E" || e === "x" || e === "o" || e === "c" || e === "p" || e === "P" || e === "N" || e === "k" || e === "g") throw new GiveUp();
      // PCRE reads all the digits of `\10` as one back reference (or octal code): none is a literal.
      if (e >= "0" && e <= "9") while (p[this.i] >= "0" && p[this.i] <= "9") this.i++;
      return new Set();
    }
    if (c === "*" || c === "+" || c === "?") throw new GiveUp();
    this.i++;
    if (c === "." || c === "^" || c === "$") return new Set();
    return this.one(c);
  }

  private group(): Set<string> {
    const p = this.p;
    this.i++;
    let look = false;
    if (p[this.i] === "?") {
      const rest = p.slice(this.i);
      const m = /^\?(?::|=|!|<=|<!|<[A-Za-z_]\w*>|P<[A-Za-z_]\w*>|'[A-Za-z_]\w*'|>)/.exec(rest);
      if (!m) throw new GiveUp();
      look = m[0] === "?=" || m[0] === "?!" || m[0] === "?<=" || m[0] === "?<!";
      this.i += m[0].length;
    } else if (p[this.i] === "*") throw new GiveUp();
    const inner = this.alternation();
    if (p[this.i] !== ")") throw new GiveUp();
    this.i++;
    return look ? new Set() : inner;
  }

  private skipClass(): void {
    const p = this.p;
    this.i++;
    if (p[this.i] === "^") this.i++;
    if (p[this.i] === "]") this.i++;
    while (this.i < p.length && p[this.i] !== "]") {
      if (p[this.i] === "\\") this.i += 2;
      else if (p[this.i] === "[" && p[this.i + 1] === ":") {
        const end = p.indexOf(":]", this.i + 2);
        this.i = end < 0 ? this.i + 1 : end + 2;
      } else this.i++;
    }
    if (this.i >= p.length) throw new GiveUp();
    this.i++;
  }
}
