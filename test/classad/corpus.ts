// Expressions with the values HTCondor gives them, printed as classad_eval prints them
// (ClassAdUnParser: reals as "%1.15E", lists "{ 1,2 }", records "[ a = 1; b = 2 ]").
// Each group names its source: HTCondor's src/classad/functional_tests.txt (FT), the
// semantics in src/classad/operators.cpp, fnCall.cpp, value.cpp, lexer.cpp, sink.cpp of
// htcondor/htcondor, src/condor_utils/compat_classad.cpp, or the HTCondor manual's
// "ClassAd Mechanism" chapter (Manual).
export type Case = readonly [expr: string, expected: string];

export interface Group {
  readonly source: string;
  readonly cases: readonly Case[];
  /** Optional MY and TARGET ads (ClassAd text). */
  readonly my?: string;
  readonly target?: string;
}

export const GROUPS: readonly Group[] = [
  {
    source: "FT 'Testing basic math'; operators.cpp doArithmetic (integer arithmetic, truncating division)",
    cases: [
      ["(1 + 2)", "3"], ["(3 - 1)", "2"], ["(2 * 3)", "6"], ["(8 / 2)", "4"],
      ["7 / 2", "3"], ["-7 / 2", "-3"], ["7 / -2", "-3"], ["-7 / -2", "3"],
      ["7 % 3", "1"], ["-7 % 3", "-1"], ["7 % -3", "1"], ["-7 % -3", "-1"],
      ["1 / 0", "error"], ["1 % 0", "error"], ["0 / 5", "0"], ["0 % 5", "0"],
      ["2 + 3 * 4", "14"], ["(2 + 3) * 4", "20"], ["10 - 4 - 3", "3"], ["100 / 10 / 5", "2"],
      ["2 * 3 % 4", "2"], ["1 + 2 - 3 + 4", "4"], ["-5 + 2", "-3"], ["- 5 + 2", "-3"],
      ["+5", "5"], ["-(-5)", "5"], ["--5", "5"], ["1 - -1", "2"],
      ["123456789 * 1000", "123456789000"], ["9223372036854775807", "9223372036854775807"],
      ["9223372036854775807 + 1", "-9223372036854775808"], ["-9223372036854775807 - 1", "-9223372036854775808"],
      ["-9223372036854775807 - 2", "9223372036854775807"], ["4611686018427387904 * 2", "-9223372036854775808"],
      ["(-9223372036854775807 - 1) / -1", "9223372036854775807"], ["(-9223372036854775807 - 1) % -1", "0"],
      ["9007199254740993 + 0", "9007199254740993"], ["9007199254740993 - 9007199254740992", "1"],
      ["3000000000 * 3000000000", "9000000000000000000"],
    ],
  },
  {
    source: "operators.cpp doRealArithmetic and coerceToNumber (int promoted to real; +HUGE_VAL is error; real % is error); sink.cpp UnparseReal (%1.15E)",
    cases: [
      ["1.5 + 1", "2.500000000000000E+00"], ["1 + 1.5", "2.500000000000000E+00"], ["3.0 * 2", "6.000000000000000E+00"],
      ["7.0 / 2", "3.500000000000000E+00"], ["7 / 2.0", "3.500000000000000E+00"], ["1.0 / 3", "3.333333333333333E-01"],
      ["2.0 - 0.5", "1.500000000000000E+00"], ["0.1 + 0.2", "3.000000000000000E-01"], ["1e3", "1.000000000000000E+03"],
      ["1E-3", "1.000000000000000E-03"], ["2.5e+2", "2.500000000000000E+02"], [".5", "5.000000000000000E-01"],
      ["-.5", "-5.000000000000000E-01"], ["3.5", "3.500000000000000E+00"], ["1e10", "1.000000000000000E+10"],
      ["1.0 / 0", "error"], ["1.0 / 0.0", "error"], ["-1.0 / 0", 'real("-INF")'], ["0.0 / 0", 'real("NaN")'],
      ["5.0 % 2", "error"], ["5 % 2.0", "error"], ["1e308 * 10", "error"], ["-1e308 * 10", 'real("-INF")'],
      ["0.0", "0.0"], ["-0.0", "-0.0"], ["0.0 * -1", "-0.0"], ["1.0 - 1.0", "0.0"],
      ["1e-320", "9.999888671826830E-321"], ["123.456", "1.234560000000000E+02"], ["-2.5 * 2", "-5.000000000000000E+00"],
      ["1.5e300 * 1.5e300", "error"], ["2.0 * 0.5", "1.000000000000000E+00"],
    ],
  },
  {
    source: "FT 'Testing extreme numbers'; value.cpp convertValueToRealValue (strtod)",
    cases: [
      ['string(real("INF"))', '"real(\\"INF\\")"'], ['string(real("-INF"))', '"real(\\"-INF\\")"'], ['string(real("NaN"))', '"real(\\"NaN\\")"'],
      ['real("INF")', 'real("INF")'], ['real("-INF")', 'real("-INF")'], ["string(0.0)", '"0.0"'], ["string(-0.0)", '"-0.0"'],
      ['real("INF") == real("INF")', "true"], ['real("NaN") == real("NaN")', "false"], ['real("INF") > 1e308', "true"],
      ['real("-0.0")', "-0.0"], ["0.0 == -(0.0)", "true"],
    ],
  },
  {
    source: "operators.cpp coerceToNumber: booleans promote to 0/1 in arithmetic and comparison; doArithmetic rejects strings, lists, records",
    cases: [
      ["true + 1", "2"], ["false + 1", "1"], ["true + true", "2"], ["true * 2.5", "2.500000000000000E+00"],
      ["true == 1", "true"], ["false == 0", "true"], ["true < 2", "true"], ["true == 1.0", "true"], ["true > false", "true"],
      ['"a" + 1', "error"], ['1 + "a"', "error"], ['"a" + "b"', "error"], ["{1} + 1", "error"], ["[a = 1] + 1", "error"],
      ['"1" * 2', "error"], ["-true", "error"], ["+true", "error"], ['+"a"', "error"], ['-"a"', "error"],
      ["-{1}", "error"], ["+1.5", "1.500000000000000E+00"], ["-1.5", "-1.500000000000000E+00"],
    ],
  },
  {
    source: "operators.cpp _doOperation: strict operators give error if either operand is error, else undefined if either is undefined",
    cases: [
      ["undefined + 1", "undefined"], ["1 + undefined", "undefined"], ["error + 1", "error"], ["1 + error", "error"],
      ["undefined + error", "error"], ["error + undefined", "error"], ["undefined * 0", "undefined"], ["undefined / 0", "undefined"],
      ["undefined == undefined", "undefined"], ["undefined != 1", "undefined"], ["error == error", "error"], ["undefined < 1", "undefined"],
      ['undefined == "a"', "undefined"], ['"a" + undefined', "undefined"], ["-undefined", "undefined"], ["-error", "error"],
      ["+undefined", "undefined"], ["~undefined", "undefined"], ["~error", "error"], ["undefined | 1", "undefined"],
      ["error & undefined", "error"], ["undefined << 1", "undefined"], ["x + 1", "undefined"], ["x == x", "undefined"],
      ['undefined + "a"', "undefined"], ["{1} == undefined", "undefined"], ["error == undefined", "error"],
    ],
  },
  {
    source: "FT 'Testing && operator' / '|| operator' / '! operator' (full truth tables); operators.cpp doLogical and shortCircuit",
    cases: [
      ["false && false", "false"], ["false && undefined", "false"], ["false && true", "false"], ["false && error", "false"],
      ["undefined && false", "false"], ["undefined && undefined", "undefined"], ["undefined && true", "undefined"], ["undefined && error", "error"],
      ["true && false", "false"], ["true && undefined", "undefined"], ["true && true", "true"], ["true && error", "error"],
      ["error && false", "error"], ["error && undefined", "error"], ["error && true", "error"], ["error && error", "error"],
      ["false || false", "false"], ["false || undefined", "undefined"], ["false || true", "true"], ["false || error", "error"],
      ["undefined || false", "undefined"], ["undefined || undefined", "undefined"], ["undefined || true", "true"], ["undefined || error", "error"],
      ["true || false", "true"], ["true || undefined", "true"], ["true || true", "true"], ["true || error", "true"],
      ["error || false", "error"], ["error || undefined", "error"], ["error || true", "error"], ["error || error", "error"],
      ["!false", "true"], ["!undefined", "undefined"], ["!true", "false"], ["!error", "error"],
    ],
  },
  {
    source: "value.cpp IsBooleanValueEquiv (numbers are truth values for && || ! ?:); operators.cpp doLogical (other types are error)",
    cases: [
      ["1 && true", "true"], ["0 && true", "false"], ["0.0 || false", "false"], ["2.5 || false", "true"], ["!0", "true"], ["!5", "false"],
      ["!0.0", "true"], ["true && 0", "false"], ["true && 3", "true"], ["false || 7", "true"], ["undefined && 0", "false"], ["undefined || 1", "true"],
      ['"a" && true', "error"], ['true && "a"', "error"], ['false && "a"', "false"], ['true || "a"', "true"], ['"a" || true', "error"],
      ['!"a"', "error"], ["!{1}", "error"], ["{1} && true", "error"], ["[a = 1] || false", "error"], ['undefined && "a"', "error"],
      ['undefined || "a"', "error"], ["1 ? 2 : 3", "2"], ["0 ? 2 : 3", "3"], ["0.5 ? 2 : 3", "2"], ['"x" ? 2 : 3', "error"], ["{1} ? 2 : 3", "error"],
    ],
  },
  {
    source: "FT 'Testing ? operator'; operators.cpp shortCircuit TERNARY_OP (undefined selector gives undefined, error gives error)",
    cases: [
      ["false ? true : false", "false"], ["false ? false : true", "true"], ["false ? true : undefined", "undefined"], ["false ? undefined : true", "true"],
      ["true ? true : false", "true"], ["true ? false : true", "false"], ["true ? true : undefined", "true"], ["true ? undefined : true", "undefined"],
      ["undefined ? 1 : 2", "undefined"], ["error ? 1 : 2", "error"], ["true ? 1 : 1/0", "1"], ["false ? 1/0 : 2", "2"],
      ["true ? false ? 1 : 2 : 3", "2"], ["false ? 1 : true ? 2 : 3", "2"], ["1 < 2 ? \"lt\" : \"ge\"", '"lt"'], ["x ? 1 : 2", "undefined"],
    ],
  },
  {
    source: "operators.cpp ELVIS_OP: a ?: b is a unless a is undefined (error is kept)",
    cases: [
      ["undefined ?: 3", "3"], ["5 ?: 3", "5"], ["error ?: 3", "error"], ["x ?: 7", "7"], ["false ?: true", "false"], ['"" ?: "d"', '""'],
      ["undefined ?: undefined", "undefined"], ["x ?: y ?: 4", "4"],
    ],
  },
  {
    source: "operators.cpp doComparison/compareStrings: == != < <= > >= on strings ignore case (strcasecmp); mixed string/number is error",
    cases: [
      ['"abc" == "ABC"', "true"], ['"abc" != "ABC"', "false"], ['"abc" == "abd"', "false"], ['"abc" < "abd"', "true"],
      ['"ABC" < "abd"', "true"], ['"a" < "B"', "true"], ['"B" > "a"', "true"], ['"b" <= "B"', "true"], ['"b" >= "C"', "false"],
      ['"" == ""', "true"], ['"" < "a"', "true"], ['"abc" < "ab"', "false"], ['"Zebra" > "apple"', "true"], ['"LINUX" == "linux"', "true"],
      ['"1" == 1', "error"], ['1 == "1"', "error"], ['"a" < 1', "error"], ['"true" == true', "error"], ['"a" == {1}', "error"],
      ['"x" != "X"', "false"], ['"10" < "9"', "true"], ['"a b" == "A B"', "true"],
    ],
  },
  {
    source: "operators.cpp doComparison (META_EQUAL_OP): is / =?= and isnt / =!= compare type and value exactly, strings case-sensitively; never undefined",
    cases: [
      ['"abc" is "ABC"', "false"], ['"abc" is "abc"', "true"], ['"abc" =?= "ABC"', "false"], ['"abc" =!= "ABC"', "true"], ['"abc" isnt "abc"', "false"],
      ["1 is 1", "true"], ["1 is 1.0", "false"], ["1 =?= 1.0", "false"], ["1.0 is 1.0", "true"], ["1 isnt 1.0", "true"],
      ["undefined is undefined", "true"], ["undefined =?= undefined", "true"], ["error is error", "true"], ["undefined is error", "false"],
      ["undefined isnt undefined", "false"], ["x =?= undefined", "true"], ["x =!= undefined", "false"], ["1 =?= undefined", "false"],
      ["true is true", "true"], ["true is 1", "false"], ["false =?= false", "true"], ['"a" is 1', "false"], ["error =!= 1", "true"],
      ["{1} is {1}", "error"], ["[a = 1] is [a = 1]", "error"], ["undefined is {1}", "false"], ["1 IS 1", "true"], ["1 ISNT 2", "true"],
    ],
  },
  {
    source: "operators.cpp compareIntegers/compareReals with coerceToNumber (int vs real compared as reals); lists and records are not comparable",
    cases: [
      ["1 == 1.0", "true"], ["1 < 1.5", "true"], ["2 > 1.5", "true"], ["2.0 >= 2", "true"], ["3 <= 2.999", "false"], ["1 != 1.0", "false"],
      ["3 == 3", "true"], ["3 != 4", "true"], ["-1 < 0", "true"], ["0 > -0.5", "true"], ["1 < 2 == true", "true"], ["{1} == {1}", "error"],
      ["[a = 1] == [a = 1]", "error"], ["{1} != 2", "error"], ["9223372036854775807 > 9223372036854775806", "true"], ["9007199254740993 == 9007199254740992", "false"],
      ["1e300 > 9223372036854775807", "true"], ["-1 >= -1", "true"],
    ],
  },
  {
    source: "operators.cpp doBitwise (integers only; >> keeps the sign; >>> shifts in zeros); x86 masks shift counts to 6 bits",
    cases: [
      ["5 & 3", "1"], ["5 | 3", "7"], ["5 ^ 3", "6"], ["~5", "-6"], ["~0", "-1"], ["~-1", "0"], ["1 << 4", "16"], ["256 >> 4", "16"],
      ["-8 >> 1", "-4"], ["-1 >> 10", "-1"], ["-8 >>> 1", "9223372036854775804"], ["8 >>> 1", "4"], ["-1 >>> 63", "1"], ["1 << 62", "4611686018427387904"],
      ["1 << 63", "-9223372036854775808"], ["1 << 64", "1"], ["1.0 & 1", "error"], ["true | 1", "error"], ['"a" ^ 1', "error"], ["~1.5", "error"],
      ["~true", "error"], ["6 & 3 | 8", "10"], ["1 | 2 ^ 3", "1"], ["12 & 10 ^ 6", "14"], ["-1 & 255", "255"], ["1 << 2 + 1", "8"],
      ["-16 >> 2", "-4"], ["5 >>> 0", "5"],
    ],
  },
  {
    source: "source.cpp precedence (K&R, ternary lowest; elvis binds as a postfix operator); FT basic math",
    cases: [
      ["1 + 2 * 3 == 7", "true"], ["1 < 2 && 2 < 3", "true"], ["1 < 2 || 1/0", "true"], ["true || false && false", "true"], ["(true || false) && false", "false"],
      ["1 + 2 << 1", "6"], ["2 * 3 + 4 * 5", "26"], ["10 - 2 * 3", "4"], ["!true || true", "true"], ["!(true || true)", "false"], ["-2 * -3", "6"],
      ["1 == 1 == true", "true"], ["2 | 1 == 1", "error"], ["3 & 1 != 0", "error"], ["(3 & 1) != 0", "true"], ["1 + (2 + 3) * 4", "21"],
      ["true ? 1 : 2 + 10", "1"], ["false ? 1 : 2 + 10", "12"], ["undefined ?: 1 + 1", "2"], ["2 * undefined ?: 3", "6"],
    ],
  },
  {
    source: "lexer.cpp tokenizeNumber: integers are read with from_chars in base 10 (a leading 0 is refused under the old-ClassAd semantics HTCondor's tools use, see htcondor-differential.test.ts); adjacent string literals concatenate; comments",
    cases: [
      ["0", "0"], ["-017", "-17"], ["1 /* comment */ + 2", "3"], ["1 + // comment\n 2", "3"],
      ['"ab" "cd"', '"abcd"'], ['"ab"  "cd" "ef"', '"abcdef"'], ["1.5e1", "1.500000000000000E+01"], ["0.5", "5.000000000000000E-01"], ["017.5", "1.750000000000000E+01"],
      ["TRUE", "true"], ["False", "false"], ["UNDEFINED", "undefined"], ["Error", "error"], ["9223372036854775808", "0"],
    ],
  },
  {
    source: "lexer.cpp convert_escapes and sink.cpp string unparse (escapes, octal for non-printable bytes)",
    cases: [
      ['"a\\nb"', '"a\\nb"'], ['"tab\\there"', '"tab\\there"'], ['"q\\"q"', '"q\\"q"'], ['"back\\\\slash"', '"back\\\\slash"'], ['"\\101\\102"', '"AB"'],
      ['"\\x"', '"x"'], ['"it\'s"', '"it\'s"'], ['"\\\'"', '"\'"'], ['"\\a\\b\\f\\r\\v"', '"\\a\\b\\f\\r\\v"'], ['"\\1"', '"\\001"'],
      ['"\\177"', '"\\177"'], ['size("\\101")', "1"], ['size("a\\nb")', "3"], ['"\\400"', '" 0"'], ['"é"', '"\\303\\251"'], ['size("é")', "2"],
    ],
  },
  {
    source: "FT 'Testing basic attributes in a ClassAd' and 'select on lists'; attrrefs.cpp FindExpr (record selection, list projection)",
    cases: [
      ['[a = 1; b = 2.0; c = "alain"; d = true; e = error; u = undefined].a', "1"], ['[a = 1; b = 2.0].b', "2.000000000000000E+00"],
      ['[c = "alain"].c', '"alain"'], ["[d = true].d", "true"], ["[e = error].e", "error"], ["[u = undefined].u", "undefined"],
      ["[l = {1, 1, 2, 3, 5}].l", "{ 1,1,2,3,5 }"], ["[l = {1, 1, 2, 3, 5}].l[4]", "5"], ["[a = 1].b", "undefined"], ["[a = 1; b = a + 1].b", "2"],
      ['{[a = 3; b = "I see London"], [a = 2; b = "I see France"], [a = 1; b = "I see"]}.a', "{ 3,2,1 }"],
      ['{[a = 3; b = "I see London"], [a = 2; b = "I see France"]}.b', '{ "I see London","I see France" }'],
      ["{[a = 3], [a = 2], [a = 1]}.c", "{ undefined,undefined,undefined }"], ["{}.a", "{  }"], ["{1, [a = 2]}.a", "{ error,2 }"],
      ["(1).a", "error"], ["undefined.a", "undefined"], ["error.a", "error"], ['"s".a', "error"], ["[a = [b = 7]].a.b", "7"], ["[a = [b = 7]].a.c", "undefined"],
      ["[a = [b = c]; c = 9].a.b", "9"], ["[a = 1; b = [c = a]].b.c", "1"], ["[A = 5].a", "5"], ["[a = 5].A", "5"],
    ],
  },
  {
    source: "FT 'Testing subscripts'; operators.cpp SUBSCRIPT_OP (list index must be an integer in range; record key a string, missing key undefined)",
    cases: [
      ['[a = 3; b = "alain"; ab = 4]["a"]', "3"], ['[a = 3; b = "alain"; ab = 4]["b"]', '"alain"'], ['[a = 3; b = "alain"; ab = 4][strcat("a", "b")]', "4"],
      ['[a = 3]["c"]', "undefined"], ['[a = 3]["A"]', "3"], ['{"a", "b", "c"}[0]', '"a"'], ['{"a", "b", "c"}[1]', '"b"'], ['{"a", "b", "c"}[2]', '"c"'],
      ['{"a", "b", "c"}[3]', "error"], ['{"a", "b", "c"}[-1]', "error"], ["{1, 2}[1.0]", "error"], ['{1, 2}["0"]', "error"], ["{1, 2}[true]", "error"],
      ["{1, 2}[undefined]", "undefined"], ["undefined[0]", "undefined"], ["error[0]", "error"], ["[a = 1][1]", "error"], ["{1 + 1, 2}[0]", "2"],
      ["{{1, 2}, {3, 4}}[1][0]", "3"], ['"abc"[0]', "error"], ["{1, 2}[error]", "error"], ["{}[0]", "error"],
    ],
  },
  {
    source: "sink.cpp unparse of values: lists '{ a,b }', records '[ a = 1; b = 2 ]' ordered by name length then case-insensitively (classad_flat_map.h); elements are not evaluated (exprList.cpp)",
    cases: [
      ["{1, 2, 3}", "{ 1,2,3 }"], ["{}", "{  }"], ["[]", "[  ]"], ["{1 + 1, 2}", "{ 1 + 1,2 }"], ['{"a", 1.5, true, undefined}', '{ "a",1.500000000000000E+00,true,undefined }'],
      ["[a = 1; b = \"x\"]", '[ a = 1; b = "x" ]'], ["[b = 1; a = 2]", "[ a = 2; b = 1 ]"], ["[bb = 1; a = 2]", "[ a = 2; bb = 1 ]"], ["[B = 1; a = 2]", "[ a = 2; B = 1 ]"],
      ["[a = 1 + 2]", "[ a = 1 + 2 ]"], ["[a = {1, 2}]", "[ a = { 1,2 } ]"], ["{[a = 1], [b = 2]}", "{ [ a = 1 ],[ b = 2 ] }"], ["[a = -1]", "[ a = -1 ]"],
      ["[a = - 1]", "[ a =  -1 ]"], ["[a = !b]", "[ a =  !b ]"], ["[a = (1)]", "[ a = (1) ]"], ["[a = b ? c : d]", "[ a = b ? c : d ]"], ["[a = b ?: c]", "[ a = b ?: c ]"],
      ["[a = b.c]", "[ a = b.c ]"], ["[a = .b]", "[ a = .b ]"], ["[a = b[0]]", "[ a = b[0] ]"], ["[a = f(1, 2)]", "[ a = f(1,2) ]"], ["[a = x is y]", "[ a = x is y ]"],
      ["[a = x =?= y]", "[ a = x is y ]"], ["[a = x =!= y]", "[ a = x isnt y ]"], ["[a = 1; ;; b = 2;;]", "[ a = 1; b = 2 ]"], ['[\'a b\' = 1]', "[ 'a b' = 1 ]"],
      ['[a = "x\\ny"]', '[ a = "x\\ny" ]'], ["[a = 3.0]", "[ a = 3.000000000000000E+00 ]"], ["[a = 1; A = 2]", "[ a = 2 ]"], ["[x = 'true']", "[ x = 'true' ]"],
    ],
  },
  {
    source: "classad.cpp LookupInScope (parent, self, toplevel; enclosing records) and attrrefs.cpp (absolute .name)",
    cases: [
      ["[a = 1; b = [c = parent.a]].b.c", "1"], ["[a = 1; b = [a = 2; c = parent.a]].b.c", "1"], ["[a = 1; b = [a = 2; c = a]].b.c", "2"],
      ["[a = 1; b = [c = self.d; d = 4]].b.c", "4"], ["[a = 5; b = [c = toplevel.a]].b.c", "undefined"], ["[a = 1; b = [a = 2; c = .a]].b.c", "undefined"],
    ],
  },
  {
    source: "attrrefs.cpp AttributeReference::FindExpr: a reference back into an attribute being evaluated is undefined (circular-reference check); list elements are evaluated lazily, so a list holding its own name is not a loop",
    cases: [["[x = x].x", "undefined"], ["[x = y; y = x].x", "undefined"], ["[x = y + 1; y = x * 2].y", "undefined"], ["[x = {x}].x[0]", "{ x }"], ["[a = b; b = 3].a", "3"], ["[x = x ?: 1].x", "1"]],
  },
  {
    source: "FT 'Testing functions' (type tests); fnCall.cpp isType (one argument, else error)",
    cases: [
      ["isUndefined(undefined)", "true"], ["isUndefined(x)", "true"], ["isUndefined(1)", "false"], ["isUndefined(error)", "false"], ["isError(error)", "true"],
      ["isError(1/0)", "true"], ["isError(undefined)", "false"], ["isString(\"a\")", "true"], ["isString(1)", "false"], ["isInteger(1)", "true"], ["isInteger(1.0)", "false"],
      ["isReal(1.0)", "true"], ["isReal(1)", "false"], ["isBoolean(true)", "true"], ["isBoolean(1)", "false"], ["isList({})", "true"], ["isList(\"a\")", "false"],
      ["isClassAd([])", "true"], ["isClassAd({})", "false"], ["isUndefined()", "error"], ["isUndefined(1, 2)", "error"], ["ISUNDEFINED(x)", "true"], ["isinteger(2 + 2)", "true"],
    ],
  },
  {
    source: "FT 'Testing functions' (int, real, string, bool, floor, ceiling, round); value.cpp convertValueTo*; fnCall.cpp convBool/doRound (rint: halves to even)",
    cases: [
      ["int(3)", "3"], ["int(3.9)", "3"], ['int("3.9")', "3"], ["int(-3.9)", "-3"], ["int(true)", "1"], ["int(false)", "0"], ['int("12abc")', "12"], ['int("abc")', "error"],
      ["int(undefined)", "undefined"], ["int(error)", "error"], ["int({1})", "error"], ['int(" 42")', "42"], ['int("1e3")', "1000"], ['int("")', "error"],
      ["real(3)", "3.000000000000000E+00"], ["real(3.9)", "3.900000000000000E+00"], ['real("3.9")', "3.900000000000000E+00"], ["real(true)", "1.000000000000000E+00"],
      ['real("x")', "error"], ["real(undefined)", "undefined"], ['real("1e2xyz")', "1.000000000000000E+02"],
      ['string("alain")', '"alain"'], ["string(1)", '"1"'], ["string(1.5)", '"1.500000000000000E+00"'], ["string(true)", '"true"'], ["string(undefined)", "undefined"],
      ["string(error)", "error"], ["string({1, 2})", '"{ 1,2 }"'], ["string([a = 1])", '"[ a = 1 ]"'], ['string("a\\"b")', '"a\\"b"'],
      ['bool("true")', "true"], ['bool("FALSE")', "false"], ['bool("yes")', "undefined"], ["bool(1)", "true"], ["bool(0)", "false"], ["bool(0.0)", "false"], ["bool(2.5)", "true"],
      ["bool(undefined)", "undefined"], ["bool(error)", "error"], ["bool({})", "error"],
      ["floor(3.9)", "3"], ['floor("3.9")', "3"], ["floor(-3.1)", "-4"], ["floor(5)", "5"], ["floor(true)", "1"], ["floor(undefined)", "error"], ['floor("x")', "error"],
      ["ceiling(3.9)", "4"], ['ceiling("3.9")', "4"], ["ceiling(-3.9)", "-3"], ["ceil(3.1)", "4"], ["ceiling(7)", "7"],
      ["round(3.1)", "3"], ["round(3.9)", "4"], ["round(2.5)", "2"], ["round(3.5)", "4"], ["round(-2.5)", "-2"], ["round(-0.4)", "0"], ["round(0.5)", "0"], ["round(1.5)", "2"],
      ["floor(1e30)", "-9223372036854775808"], ["int(1e30)", "-9223372036854775808"], ["int(3, 4)", "error"],
    ],
  },
  {
    source: "fnCall.cpp doMath2 pow (int^non-negative int is int, computed as (long long)(pow()+0.5)); quantize",
    cases: [
      ["pow(2, 10)", "1024"], ["pow(2, 0)", "1"], ["pow(3, 3)", "27"], ["pow(-2, 3)", "-7"], ["pow(-2, 2)", "4"], ["pow(2, -1)", "5.000000000000000E-01"],
      ["pow(2.0, 3)", "8.000000000000000E+00"], ["pow(4, 0.5)", "2.000000000000000E+00"], ["pow(undefined, 2)", "error"], ['pow("2", 2)', "4.000000000000000E+00"],
      ["pow(2)", "error"], ["pow(0, 0)", "1"], ["pow(10, 18)", "1000000000000000000"],
      ["quantize(3, 2)", "4"], ["quantize(4, 2)", "4"], ["quantize(3.5, 2)", "4.000000000000000E+00"], ["quantize(3, 2.5)", "5.000000000000000E+00"],
      ["quantize(3, {1, 2, 4, 8})", "4"], ["quantize(9, {1, 2, 4, 8})", "16"], ["quantize(3, 0)", "3"],
    ],
  },
  {
    source: "FT 'Testing functions' (strcat, substr, strcmp, stricmp, toupper, tolower); fnCall.cpp strCat/subString/compareString/changeCase",
    cases: [
      ['strcat("", "roy")', '"roy"'], ['strcat("alain", "")', '"alain"'], ['strcat("alain", "roy")', '"alainroy"'], ['strcat(14, " bottles of root beer")', '"14 bottles of root beer"'],
      ["strcat()", '""'], ['strcat("a", undefined)', "undefined"], ['strcat("a", error)', "error"], ['strcat("a", 1.5)', '"a1.500000000000000E+00"'], ["strcat(true, {1})", '"true{ 1 }"'],
      ['substr("abcde", 1)', '"bcde"'], ['substr("abcde", 4)', '"e"'], ['substr("abcde", 5)', '""'], ['substr("abcde", 1, 2)', '"bc"'], ['substr("abcde", 4, 2)', '"e"'],
      ['substr("abcdef", -3)', '"def"'], ['substr("abcdef", -3, 2)', '"de"'], ['substr("abcdef", 1, -2)', '"bcd"'], ['substr("abcdef", 0, 0)', '""'], ['substr("abcdef", -10)', '"abcdef"'],
      ['substr("abcdef", 10)', '""'], ['substr("abcdef", 2, 100)', '"cdef"'], ['substr("abc", 1.0)', "error"], ['substr(undefined, 1)', "undefined"], ["substr(123, 1)", "error"],
      ['substr("abc")', "error"], ['substr("abcdef", -2, -1)', '"e"'],
      ['strcmp("alain", "roy") < 0', "true"], ['strcmp("roy", "alain") > 0', "true"], ['strcmp("alain", "alain")', "0"], ['strcmp("a", "B")', "1"], ['strcmp("A", "b")', "-1"],
      ['stricmp("alain", "ALAIN")', "0"], ['stricmp("alain", "roy") < 0', "true"], ['stricmp("b", "A")', "1"], ['strcmp(1, "1")', "0"], ['strcmp("a", undefined)', "undefined"],
      ['strcmp("a", error)', "error"], ['strcmp("a")', "error"],
      ['tolower("ALAIN")', '"alain"'], ['toupper("alain")', '"ALAIN"'], ["tolower(true)", '"true"'], ["toupper(true)", '"TRUE"'], ["toUpper(12)", '"12"'], ["toLower(undefined)", "undefined"],
      ['toUpper("MiXeD 1-2")', '"MIXED 1-2"'], ["toLower(error)", "error"], ['toUpper("a", "b")', "error"],
    ],
  },
  {
    source: "fnCall.cpp strCat with name join: first argument is the separator; join(list) and join(sep, list); undefined items are skipped",
    cases: [
      ['join(",", "a", "b", "c")', '"a,b,c"'], ['join(", ", {"x", "y"})', '"x, y"'], ['join({"x", "y"})', '"xy"'], ['join("-", 1, 2, 3)', '"1-2-3"'],
      ['join(",", "a", undefined, "b")', '"a,b"'], ['join(",")', '""'], ['join(",", undefined)', "undefined"], ["join()", '""'],
    ],
  },
  {
    source: "FT 'Testing functions' (size, member); fnCall.cpp size/testMember (== for member, is for identicalMember)",
    cases: [
      ["size({})", "0"], ["size({1})", "1"], ["size({1, 2, 3, 4, 5})", "5"], ["size([])", "0"], ["size([a = 1;])", "1"], ["size([a = 1; b = 2;])", "2"], ['size("")', "0"],
      ['size("a")', "1"], ['size("ab")', "2"], ["size(3)", "error"], ["size(3.4)", "error"], ["size(undefined)", "undefined"], ["size(error)", "error"], ["size(true)", "error"],
      ["member(1, {1, 2, 3})", "true"], ["member(4, {1, 2, 3})", "false"], ['member("B", {"a", "b"})', "true"], ["member(1.0, {1, 2})", "true"], ["member(1, {})", "false"],
      ["member(undefined, {1})", "undefined"], ["member(1, undefined)", "undefined"], ["member(error, {1})", "error"], ["member({1}, {1})", "error"], ["member(1, 2)", "error"],
      ['member("a", "abc")', "error"], ["member(1, {undefined, 1})", "true"], ["member(2, {x, 2})", "true"], ['member("x", {1, "x"})', "true"],
      ['identicalMember("B", {"a", "b"})', "false"], ['identicalMember("b", {"a", "b"})', "true"], ["identicalMember(1.0, {1, 2})", "false"], ["identicalMember(undefined, {undefined})", "true"],
      ["identicalMember(error, {error})", "true"], ["identicalMember(1, undefined)", "undefined"], ["member(1)", "error"],
    ],
  },
  {
    source: "FT list0/list1/list5 and fnCall.cpp sumAvg/minMax/listCompare (sum of {} is 0 per the source comment; avg of {} falls through to the empty sum)",
    cases: [
      ["sum({})", "0"], ["avg({})", "0"], ["min({})", "undefined"], ["max({})", "undefined"], ['anycompare("<", {}, 3)', "false"], ['allcompare("<", {}, 3)', "true"],
      ["sum({1})", "1"], ["avg({1})", "1.000000000000000E+00"], ["min({1})", "1"], ["max({1})", "1"], ['anycompare("<", {1}, 3)', "true"], ['allcompare("<", {1}, 3)', "true"],
      ["sum({1, 2, 3, 4, 5})", "15"], ["avg({1, 2, 3, 4, 5})", "3.000000000000000E+00"], ["min({1, 2, 3, 4, 5})", "1"], ["max({1, 2, 3, 4, 5})", "5"],
      ['anycompare("<", {1, 2, 3, 4, 5}, 3)', "true"], ['allcompare("<", {1, 2, 3, 4, 5}, 3)', "false"], ["sum({1, 2.5})", "3.500000000000000E+00"], ["min({3, 1.5, 2})", "1.500000000000000E+00"],
      ["max({1, 2.0, 2})", "2.000000000000000E+00"], ["sum({1, undefined, 2})", "3"], ["avg({1, undefined, 3})", "2.000000000000000E+00"], ['sum({1, "a"})', "error"], ["sum(undefined)", "undefined"],
      ["sum(1)", "error"], ["sum({true, true})", "2"], ["sum({true})", "true"], ["max({undefined})", "undefined"], ["min({2, undefined, 1})", "1"], ['max({"a"})', "error"],
      ["sum({[a = 1]})", "error"], ['anycompare("==", {1, 2}, 2)', "true"], ['allcompare("==", {2, 2}, 2)', "true"], ['anycompare("is", {1, 2.0}, 2)', "false"],
      ['allcompare(">", {3, 4}, 2)', "true"], ['anycompare("<>", {1}, 2)', "error"], ['anycompare("<", undefined, 2)', "undefined"], ['anycompare(undefined, {1}, 2)', "undefined"],
      ['allcompare("<", {1, undefined}, 5)', "false"], ['anycompare("<", {"a"}, 5)', "error"], ["sum({1, 2}, 3)", "error"],
    ],
  },
  {
    source: "Misc ClassAd of src/classad/tests.txt (Set = ClassAds.a over { [a = 1], [a = 2], [a = 3] }; AllSmall/AllBig/AnyTwo/AllTwo; C = !A; D = !B; ClassAds.b finds Misc's own B through the records' enclosing scope, classad.cpp LookupInScope)",
    my: '[ ClassAds = { [a = 1], [a = 2], [a = 3] }; Set = ClassAds.a; A = 1; B = true; C = !A; D = !B; Self = [ one = "foo"; two = "bar"; rank = Other[StrCat(one, two)] ]; Other = [ one = 1; two = 2; foobar = 15 ] ]',
    cases: [
      ["Set", "{ 1,2,3 }"], ["size(Set)", "3"], ["sum(Set)", "6"], ["avg(Set)", "2.000000000000000E+00"], ["min(Set)", "1"], ["max(Set)", "3"],
      ['allcompare("<", Set, 100)', "true"], ['allcompare(">", Set, 100)', "false"], ['anycompare("==", Set, 2)', "true"], ['allcompare("==", Set, 2)', "false"],
      ["ClassAds.b", "{ true,true,true }"], ["ClassAds.zz", "{ undefined,undefined,undefined }"], ["A", "1"], ["B", "true"], ["C", "false"], ["D", "false"], ["Self.rank", "15"], ["MY.A", "1"], ["my.c", "false"],
    ],
  },
  {
    source: "Misc ClassAd of src/classad/tests.txt (R1-R6) and FT regexp/regexpMember; fnCall.cpp matchPattern (options i m s x; bad pattern is error)",
    cases: [
      ['regexp(".*\\\\.cs\\\\.uchicago\\\\.edu", "gargoyle.cs1uchicago.edu")', "false"], ['regexp(".*\\\\.cs\\\\.wisc\\\\.edu", "beak.cs.wisc.edu")', "true"],
      ['regexp(".*\\\\.cs\\\\.uchicago\\\\.edu", "beak.cs.wisc.edu")', "false"], ['regexp(".*\\\\.cs\\\\.wisc\\\\.edu", "gargoyle.cs.uchicago.edu")', "false"],
      ['regexp(".*\\\\.cs\\\\.wisc\\\\.edu|.*\\\\.cs\\\\.uchicago\\\\.edu", "gargoyle.cs.uchicago.edu")', "true"], ['regexp(".*\\\\.cs\\\\.wisc\\\\.edu|.*\\\\.cs\\\\.uchicago\\\\.edu", "beak.cs.wisc.edu")', "true"],
      ['regexp("Alain.*Roy", "Alain Aslag Roy")', "true"], ['regexp("alain.*roy", "Alain Aslag Roy")', "false"], ['regexp("alain.*roy", "Alain Aslag Roy", "i")', "true"],
      ['regexpMember("b.*", {})', "false"], ['regexpMember("b.*", {"aa"})', "false"], ['regexpMember("b.*", {"aa", "bb"})', "true"], ['regexpMember("b.*", {"bb", "aa"})', "true"],
      ['regexpMember("b.*", {1, "bb"})', "error"], ['regexpMember("b", {undefined, "a"})', "undefined"], ['regexpMember("b", {undefined, "b"})', "true"],
      ['regexp("^a", "ba")', "false"], ['regexp("a", "ba")', "true"], ['regexp("^b.*a$", "b\\na", "")', "false"], ['regexp("^b.*a$", "b\\na", "s")', "true"],
      ['regexp("^a$", "b\\na", "m")', "true"], ['regexp("^a$", "b\\na")', "false"], ['regexp("a b c", "abc", "x")', "true"], ['regexp("A B", "ab", "xi")', "true"],
      ['regexp("(", "a")', "error"], ['regexp("a", undefined)', "undefined"], ['regexp(undefined, "a")', "undefined"], ['regexp("a", 1)', "error"], ['regexp("a", error)', "error"],
      ['regexp("a", "a", 1)', "error"], ['regexp("a", "a", undefined)', "undefined"], ['regexp("a")', "error"], ['regexp("[0-9]+", "slot12")', "true"], ['regexp("^slot[0-9]+@", "slot1@host")', "true"],
      ['regexp("a", "A", "q")', "false"], ['regexp("\\\\d{3}", "ab123")', "true"],
    ],
  },
  {
    source: "FT regexps; fnCall.cpp substPattern (regexps returns the substituted replacement; replace keeps the rest of the string; replaceAll every match)",
    cases: [
      ['regexps("[abc]*([def]*)[ghi]*", "aaaabbbbcccccdddeeefffggghhhiii", "\\\\1")', '"dddeeefff"'], ['regexps("[abc]*([def]*)[ghi]*", "abcdefghi", "\\\\0")', '"abcdefghi"'],
      ['regexps("[abc]*([def]*)[ghi]*", "abcdefghi", "\\\\2")', "error"], ['regexps("[abc]*([def]*)[ghi]*", "NO", "\\\\0")', '""'],
      ['replace("o", "foo boo", "0")', '"f0o boo"'], ['replaceAll("o", "foo boo", "0")', '"f00 b00"'], ['replace("x", "abc", "y")', '"abc"'], ['replaceAll("(b)", "abcb", "[\\\\1]")', '"a[b]c[b]"'],
      ['regexps("(a)(b)", "xaby", "\\\\2\\\\1")', '"ba"'], ['replace("B", "abc", "X", "i")', '"aXc"'], ['regexps("a", "a", undefined)', "undefined"],
    ],
  },
  {
    source: "FT 'Testing eval'; fnCall.cpp eval (parses its string argument and evaluates it in the current scope) and ifThenElse (lazy)",
    cases: [
      ['eval("1+1")', "2"], ["eval(1+1)", "2"], ['eval("1+")', "error"], ['[A = 1; B = 2; C = eval("A+B")].C', "3"], ["eval(undefined)", "error"],
      ["ifThenElse(1+1==2, 3, 4)", "3"], ["ifThenElse(1+1==3, 3, 4)", "4"], ["ifThenElse(ERROR, 3, 4)", "error"], ["ifThenElse(UNDEFINED, 3, 4)", "undefined"],
      ["ifThenElse(true, 1, 1/0)", "1"], ["ifThenElse(false, 1/0, 2)", "2"], ["ifThenElse(1, \"y\", \"n\")", '"y"'], ["ifThenElse(0.0, \"y\", \"n\")", '"n"'],
      ['ifThenElse("true", 1, 2)', "error"], ["ifThenElse(true, 1)", "error"], ["ifThenElse({}, 1, 2)", "error"], ["ifThenElse(x, 1, 2)", "undefined"],
    ],
  },
  {
    source: "FT interval(); fnCall.cpp interval",
    cases: [["interval(1)", '"1"'], ["interval(60*2 + 1)", '"2:01"'], ["interval(3600*3 + 60*2 + 1)", '"3:02:01"'], ["interval(3600*24*4 + 3600*3 + 60*2 + 1)", '"4+03:02:01"'], ["interval(0)", '"0"'], ['interval("x")', "error"]],
  },
  {
    source: "FT 'Testing stringListsIntersect()'; compat_classad.cpp stringList* functions (default delimiters \", \" for Size/Sum/Avg/Min/Max, \", \\t\\r\\n\" for Member; items trimmed, empty items dropped)",
    cases: [
      ['stringListsIntersect("one,two", "two,three")', "true"], ['stringListsIntersect("one,two", "three,four")', "false"], ['stringListsIntersect("one,two", "three,four", ";")', "false"],
      ['stringListsIntersect("one,two", "one")', "true"], ['stringListsIntersect("one, two", "two, three")', "true"], ['stringListsIntersect("one,two", "two,three", ",")', "true"],
      ['stringListsIntersect("one;two", "two;three", ";")', "true"], ['stringListsIntersect("one,two", undefined)', "undefined"], ['stringListsIntersect(undefined, "one,two")', "undefined"],
      ['stringListSize("a,b,c")', "3"], ['stringListSize("a, b ,c")', "3"], ['stringListSize("")', "0"], ['stringListSize("a,,b")', "2"], ['stringListSize("a;b;c", ";")', "3"],
      ['stringListSize("a b c")', "3"], ['stringListSize(1)', "error"], ['stringListSize(undefined)', "error"], ['stringListSize("a,b", 1)', "error"],
      ['stringListSum("1,2,3")', "6"], ['stringListSum("1,2.5")', "3.500000000000000E+00"], ['stringListSum("")', "0.0"], ['stringListAvg("1,2,3,4")', "2"], ['stringListAvg("1.0,2")', "1.500000000000000E+00"],
      ['stringListMin("3,1,2")', "1"], ['stringListMax("3,1,2")', "3"], ['stringListMin("")', "undefined"], ['stringListMax("1.5,0.5")', "1.500000000000000E+00"], ['stringListSum("1,x")', "error"], ['stringListSum("0x10")', "1.600000000000000E+01"], ['stringListMax("0xA, 3")', "1.000000000000000E+01"],
      ['stringListMember("b", "a,b,c")', "true"], ['stringListMember("B", "a,b,c")', "false"], ['stringListIMember("B", "a,b,c")', "true"], ['stringListMember("b", "a, b ,c")', "true"],
      ['stringListMember("d", "a,b,c")', "false"], ['stringListMember("a b", "a b,c")', "false"], ['stringListMember("b", "a;b", ";")', "true"], ['stringListMember("b", undefined)', "false"],
      ['stringListMember(undefined, undefined)', "undefined"], ['stringListMember(1, "1,2")', "error"], ['stringListMember("", "a,b")', "false"], ['stringListMember("b")', "error"],
      ['stringListSubsetMatch("a,b", "a,b,c")', "true"], ['stringListSubsetMatch("a,d", "a,b,c")', "false"], ['stringListSubsetMatch("", "a")', "true"], ['stringListISubsetMatch("A,B", "a,b,c")', "true"],
    ],
  },
  {
    source: "fnCall.cpp compareVersion/versionInRange with natural_cmp.cpp (strverscmp-like; versioncmp returns natural_cmp's raw difference)",
    cases: [
      ['versioncmp("8.9.1", "8.10.0")', "-1"], ['versioncmp("8.10.0", "8.9.1")', "1"], ['versioncmp("a", "a")', "0"], ['versioncmp("abc", "abd")', "-1"],
      ['versionLT("8.9.1", "8.10.0")', "true"], ['versionGT("10.0.0", "9.9")', "true"], ['versionLE("1.0", "1.0")', "true"], ['versionGE("1.0", "1.1")', "false"],
      ['versionEQ("1.2", "1.2")', "true"], ['version_in_range("8.5", "8.0", "9.0")', "true"], ['version_in_range("9.1", "8.0", "9.0")', "false"],
      ['versioncmp("1.2", undefined)', "undefined"], ["versioncmp(10, 9)", "1"], ['versioncmp("x")', "error"],
    ],
  },
  {
    source: "PCRE2 semantics used by fnCall.cpp regexp_helper: without the m option, $ also matches before a final newline",
    cases: [['regexp("c$", "abc\n")', "true"], ['regexp("c$", "abc\nd")', "false"], ['regexp("[$]", "a$")', "true"], ['regexp("c$", "abc\nd", "m")', "true"], ['regexp("^d$", "abc\nd", "m")', "true"]],
  },
  {
    source: "fnCall.cpp time(): seconds since the epoch; no arguments",
    cases: [["time() > 1600000000", "true"], ["isInteger(time())", "true"], ["time(1)", "error"]],
  },
  {
    source: "fnCall.cpp MakeFunctionCall: an unknown function name evaluates to error; names are case-insensitive",
    cases: [["foo(1)", "error"], ["noSuchFunction()", "error"], ["isUndefined(foo())", "false"], ["STRCAT(\"a\", \"b\")", '"ab"'], ["SiZe({1})", "1"], ["IfThenElse(true, 1, 2)", "1"]],
  },
  {
    source: "Manual, ClassAd Mechanism (MY. and TARGET. scoping; bare names resolve in MY, then TARGET); matchClassad.cpp contexts my/target/other",
    my: '[ Memory = 2048; Cpus = 4; Owner = "alice"; Requirements = TARGET.Memory >= Memory; Name = "job" ]',
    target: '[ Memory = 4096; Cpus = 8; Arch = "X86_64"; OpSys = "LINUX"; Name = "slot1@host"; Site = "CERN"; Disk = 1000000 ]',
    cases: [
      ["Memory", "2048"], ["MY.Memory", "2048"], ["TARGET.Memory", "4096"], ["target.memory", "4096"], ["other.Memory", "4096"], ["Arch", '"X86_64"'], ["MY.Arch", "undefined"],
      ["TARGET.Owner", "undefined"], ["Owner", '"alice"'], ["Requirements", "true"], ["TARGET.Cpus * Cpus", "32"], ["Name", '"job"'], ["TARGET.Name", '"slot1@host"'],
      ['OpSys == "linux" && Arch == "x86_64"', "true"], ['member(Site, {"CERN", "FNAL"})', "true"], ["TARGET.Disk / 1024", "976"], ["Memory < TARGET.Memory", "true"],
      ["TARGET.Missing =?= undefined", "true"], ["isUndefined(Missing)", "true"], ["MY.Requirements && TARGET.Cpus >= 8", "true"], ['regexp("^slot1@", TARGET.Name)', "true"],
      ["size(TARGET.Name)", "10"], ["MY", '[ Cpus = 4; Name = "job"; Owner = "alice"; Memory = 2048; Requirements = TARGET.Memory >= Memory ]'],
    ],
  },
];
