// Time values in a local zone other than UTC. HTCondor reads the process's zone (TZ) where C's
// localtime/mktime do: absTime("...") without a zone and absTime(n) take the local offset,
// getHours() and friends read local fields whatever offset the value carries, splitTime(n) of a
// number uses the local offset, and formatTime's "%s" is mktime of the fields as standard time.
// Expected values are what HTCondor's library (htcondor/htcondor 7491a145f6, src/classad built
// standalone, reference driver as in htcondor-differential.unit.test.ts) printed with TZ set the same way.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate, interpretExpr, parseClassAd, parseExpr, valueToString } from "../../matchmaker/classad/index.ts";

const ZONES: readonly { zone: string; cases: readonly (readonly [string, string])[] }[] = [
  {
    zone: "Asia/Kolkata",
    cases: [
      ['absTime("2026-11-23T11:00:00")', 'absTime("2026-11-23T11:00:00+05:30")'],
      ['absTime("2026-07-01T12:00:00")', 'absTime("2026-07-01T12:00:00+05:30")'],
      ['absTime("2026-01-15T12:00:00Z")', 'absTime("2026-01-15T12:00:00-00:00")'],
      ["absTime(0)", 'absTime("1970-01-01T05:30:00+05:30")'],
      ["absTime(1782900000)", 'absTime("2026-07-01T15:30:00+05:30")'],
      ["absTime(1795000000.5)", 'absTime("2026-11-18T16:36:40+05:30")'],
      ["absTime(relTime(3600))", 'absTime("1970-01-01T06:30:00+05:30")'],
      ['getHours(absTime("2026-11-23T11:00:00Z"))', "16"],
      ['getMinutes(absTime("2026-11-23T11:00:00Z"))', "30"],
      ['getHours(absTime("2026-07-01T12:00:00Z"))', "17"],
      ['getDayOfMonth(absTime("2026-11-23T20:00:00Z"))', "24"],
      ["getHours(absTime(0, 0))", "5"],
      ["splitTime(0)", '[ Day = 1; Type = "AbsoluteTime"; Year = 1970; Hours = 5; Month = 1; Offset = 19800; Minutes = 30; Seconds = 0 ]'],
      ["splitTime(1782900000)", '[ Day = 1; Type = "AbsoluteTime"; Year = 2026; Hours = 15; Month = 7; Offset = 19800; Minutes = 30; Seconds = 0 ]'],
      ["splitTime(absTime(0, 0))", '[ Day = 1; Type = "AbsoluteTime"; Year = 1970; Hours = 0; Month = 1; Offset = 0; Minutes = 0; Seconds = 0 ]'],
      ['formatTime(0, "%H:%M %z")', '"05:30 +0000"'],
      ['formatTime(1782900000, "%F %T %z")', '"2026-07-01 15:30:00 +0000"'],
      ['formatTime(absTime(0, 0), "%s")', '"-19800"'],
      ['formatTime(absTime(1782900000, 0), "%s")', '"1782880200"'],
      ['formatTime([Year = 2026; Month = 7; Day = 1; Hours = 12], "%s")', '"1782887400"'],
      ['int(absTime("2026-07-01T12:00:00"))', "1782887400"],
      ['int(absTime("2026-11-23T11:00:00"))', "1795411800"],
      ["string(absTime(86400))", '"1970-01-02T05:30:00+05:30"'],
    ],
  },
  {
    zone: "America/Chicago",
    cases: [
      ['absTime("2026-11-23T11:00:00")', 'absTime("2026-11-23T11:00:00-06:00")'],
      ['absTime("2026-07-01T12:00:00")', 'absTime("2026-07-01T12:00:00-05:00")'],
      ['absTime("2026-01-15T12:00:00Z")', 'absTime("2026-01-15T12:00:00-00:00")'],
      ["absTime(0)", 'absTime("1969-12-31T18:00:00-06:00")'],
      ["absTime(1782900000)", 'absTime("2026-07-01T05:00:00-05:00")'],
      ["absTime(1795000000.5)", 'absTime("2026-11-18T05:06:40-06:00")'],
      ["absTime(relTime(3600))", 'absTime("1969-12-31T19:00:00-06:00")'],
      ['getHours(absTime("2026-11-23T11:00:00Z"))', "5"],
      ['getMinutes(absTime("2026-11-23T11:00:00Z"))', "0"],
      ['getHours(absTime("2026-07-01T12:00:00Z"))', "7"],
      ['getDayOfMonth(absTime("2026-11-23T20:00:00Z"))', "23"],
      ["getHours(absTime(0, 0))", "18"],
      ["splitTime(0)", '[ Day = 31; Type = "AbsoluteTime"; Year = 1969; Hours = 18; Month = 12; Offset = -21600; Minutes = 0; Seconds = 0 ]'],
      ["splitTime(1782900000)", '[ Day = 1; Type = "AbsoluteTime"; Year = 2026; Hours = 5; Month = 7; Offset = -18000; Minutes = 0; Seconds = 0 ]'],
      ["splitTime(absTime(0, 0))", '[ Day = 1; Type = "AbsoluteTime"; Year = 1970; Hours = 0; Month = 1; Offset = 0; Minutes = 0; Seconds = 0 ]'],
      ['formatTime(0, "%H:%M %z")', '"18:00 +0000"'],
      ['formatTime(1782900000, "%F %T %z")', '"2026-07-01 05:00:00 +0000"'],
      ['formatTime(absTime(0, 0), "%s")', '"21600"'],
      ['formatTime(absTime(1782900000, 0), "%s")', '"1782921600"'],
      ['formatTime([Year = 2026; Month = 7; Day = 1; Hours = 12], "%s")', '"1782928800"'],
      ['int(absTime("2026-07-01T12:00:00"))', "1782925200"],
      ['int(absTime("2026-11-23T11:00:00"))', "1795453200"],
      ["string(absTime(86400))", '"1970-01-01T18:00:00-06:00"'],
    ],
  },
];

for (const { zone, cases } of ZONES) {
  describe(`time values with TZ=${zone}`, () => {
    const saved = process.env.TZ;
    beforeAll(() => {
      process.env.TZ = zone;
    });
    afterAll(() => {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    });
    const my = parseClassAd("[]");
    for (const [expr, expected] of cases) {
      it(`${expr}  =>  ${expected}`, () => {
        const e = parseExpr(expr);
        expect(valueToString(evaluate(e, my))).toBe(expected);
        expect(valueToString(interpretExpr(e, my))).toBe(expected);
      });
    }
  });
}
