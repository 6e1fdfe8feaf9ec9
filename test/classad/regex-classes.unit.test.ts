// Where a character class ends, as PCRE reads it (HTCondor's regexp() is PCRE2): a `]` right after
// `[` or `[^` is a member. Every rewrite of a pattern into JavaScript's dialect must agree on it,
// the `x` option's stripping of white space and comments (outside classes only) included.
import { describe, expect, it } from "vitest";
import { evaluate, valueToString } from "../../matchmaker/classad/index.ts";

const regexp = (args: string): string => valueToString(evaluate(`regexp(${args})`));

describe("regexp character classes", () => {
  it("keeps white space and '#' inside a class that starts with ']' under the x option", () => {
    expect(regexp('"[] #]", "#", "x"')).toBe("true");
    expect(regexp('"[] #]", " ", "x"')).toBe("true");
    expect(regexp('"[] #]", "]", "x"')).toBe("true");
    expect(regexp('"[^] #]x", "# x", "x"')).toBe("false");
    expect(regexp('"[^] #]x", "ax", "x"')).toBe("true");
  });

  it("still strips white space and comments outside classes, and reads POSIX classes and $ inside them", () => {
    expect(regexp('"a b c # a comment", "abc", "x"')).toBe("true");
    expect(regexp('"[]$[:digit:]]+$", "]$7"')).toBe("true");
    expect(regexp('"[]$[:digit:]]+$", "]$7x"')).toBe("false");
  });
});
