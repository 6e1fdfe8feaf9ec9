// The time built-ins of HTCondor's fnCall.cpp: absTime / relTime (convTime), currentTime,
// timeZoneOffset, dayTime, the get* fields (getField), splitTime and formatTime. Like HTCondor,
// getYear() and friends read an absolute time in the local zone (the process's, as C's
// localtime does) whatever zone offset the value carries, while splitTime and formatTime
// use the value's own offset; absTime(n) without a zone takes the local offset.
import { literal } from "./ast.ts";
import { ClassAd } from "./classad.ts";
import { cInt, dayNumbers, gmTime, localGmtOffset, localTime, now, timezoneOffset, type Tm } from "./c-time.ts";
import { EvaluationFailed, type EvalState, type Thunk } from "./eval-state.ts";
import { select } from "./scope.ts";
import { strftime } from "./strftime.ts";
import {
  absTimeValue, classAdValue, ERROR, intValue, realValue, relTimeValue, stringValue, UNDEFINED,
  type AbsTimeValue, type Value,
} from "./value.ts";

type TimeBuiltin = (name: string, args: readonly Thunk[], st: EvalState) => Value;

/** C's (int) of a 64-bit integer value. */
function int32(v: Value & { kind: "integer" }): number {
  return v.exact !== undefined ? Number(BigInt.asIntN(32, v.exact)) : v.value | 0;
}

function currentAbsTime(): AbsTimeValue {
  const t = now();
  return absTimeValue(t, localGmtOffset(t));
}

export const currentTime: TimeBuiltin = (_n, args) => (args.length > 0 ? ERROR : currentAbsTime());

export const timeZoneOffset: TimeBuiltin = (_n, args) => (args.length > 0 ? ERROR : relTimeValue(timezoneOffset(now(), false)));

export const dayTime: TimeBuiltin = (_n, args) => {
  if (args.length > 0) return ERROR;
  const tm = localTime(now());
  return relTimeValue(tm.hour * 3600 + tm.min * 60 + tm.sec);
};

/** absTime(t [, offset]) and relTime(t): convTime. absTime() is the current time. */
export const convTime: TimeBuiltin = (name, args, st) => {
  const relative = name === "reltime";
  if (args.length === 0 && !relative) return currentAbsTime();
  if (args.length < 1 || args.length > 2) return ERROR;
  const arg = args[0](st);
  let offset: number | null = null;
  if (args.length === 2) {
    const arg2 = args[1](st);
    if (relative) return ERROR;
    if (arg2.kind === "integer") offset = int32(arg2);
    else if (arg2.kind === "real") offset = cInt(arg2.value);
    else if (arg2.kind === "reltime") offset = cInt(arg2.secs);
    else return ERROR;
  }
  const abs = (secs: number): Value => absTimeValue(secs, offset ?? localGmtOffset(secs));
  switch (arg.kind) {
    case "undefined":
      return UNDEFINED;
    case "integer": {
      const secs = int32(arg);
      if (relative) return relTimeValue(secs);
      // HTCondor fails the whole evaluation on an offset of -1 (its "illegal offset" marker).
      if (offset === -1) throw new EvaluationFailed("absTime: offset -1");
      return abs(secs);
    }
    case "real":
      return relative ? relTimeValue(arg.value, arg.negNaN === true) : abs(cInt(arg.value));
    case "string":
      // A string literal was turned into a time literal while parsing; any other string falls
      // into HTCondor's absolute-time case with nothing read: relTime gives 0, absTime the string.
      return relative ? relTimeValue(0) : arg;
    case "abstime":
      return relative ? relTimeValue(arg.secs) : arg;
    case "reltime":
      return relative ? arg : abs(cInt(arg.secs));
    default:
      return ERROR;
  }
};

/** getYear, getMonth, getDayOfYear, getDayOfMonth, getDayOfWeek, getDays, getHours, getMinutes, getSeconds. */
export const getField: TimeBuiltin = (name, args, st) => {
  if (args.length !== 1) return ERROR;
  const v = args[0](st);
  if (v.kind === "abstime") {
    const tm = localTime(v.secs);
    switch (name) {
      case "getyear": return intValue(tm.year);
      case "getmonth": return intValue(tm.mon + 1);
      case "getdayofyear": return intValue(tm.yday);
      case "getdayofmonth": return intValue(tm.mday);
      case "getdayofweek": return intValue(tm.wday);
      case "gethours": return intValue(tm.hour);
      case "getminutes": return intValue(tm.min);
      case "getseconds": return intValue(tm.sec);
      default: return ERROR; // getDays: not meaningful for an absolute time
    }
  }
  if (v.kind === "reltime") {
    const r = cInt(v.secs);
    switch (name) {
      case "getdays": return intValue(Math.trunc(r / 86400));
      case "gethours": return intValue(Math.trunc((r % 86400) / 3600));
      case "getminutes": return intValue(Math.trunc((r % 3600) / 60));
      case "getseconds": return intValue(r % 60);
      default: return ERROR; // calendar fields are not meaningful for a relative time
    }
  }
  return ERROR;
};

/** The fields of an absolute time in its own zone, as splitTime's record holds them. */
function absFields(secs: number, offset: number): Tm {
  const tm = gmTime(secs + offset);
  tm.gmtoff = offset;
  return tm;
}

/** doSplitTime for everything but records: numbers are absolute times in the local zone. */
function splitAbs(v: Value): Tm | null {
  switch (v.kind) {
    case "integer": {
      const secs = v.exact !== undefined ? Number(v.exact) : v.value;
      return absFields(secs, timezoneOffset(secs, false));
    }
    case "real": {
      const secs = cInt(v.value);
      return absFields(secs, timezoneOffset(secs, false));
    }
    case "abstime":
      return absFields(v.secs, v.offset);
    default:
      return null;
  }
}

function record(entries: readonly (readonly [string, Value])[]): Value {
  return classAdValue(new ClassAd(entries.map(([n, v]) => [n, literal(v)] as const)));
}

/** relTimeToClassAd: the sign goes on the first non-zero part (or the seconds). */
function splitRel(rsecs: number, negNaN: boolean): Value {
  // A NaN's sign bit as relTimeToString's (time-text.ts); negating the seconds flips it.
  let secsNegNaN = rsecs === rsecs ? true : negNaN;
  const negative = rsecs < 0;
  if (negative) rsecs = -rsecs;
  let days = cInt(rsecs);
  let hrs = days % 86400;
  let mins = hrs % 3600;
  let secs = (mins % 60) + (rsecs - Math.floor(rsecs));
  days = Math.trunc(days / 86400);
  hrs = Math.trunc(hrs / 3600);
  mins = Math.trunc(mins / 60);
  if (negative) {
    if (days > 0) days = -days;
    else if (hrs > 0) hrs = -hrs;
    else if (mins > 0) mins = -mins;
    else {
      secs = -secs;
      secsNegNaN = !secsNegNaN;
    }
  }
  return record([["Type", stringValue("RelativeTime")], ["Days", intValue(days)], ["Hours", intValue(hrs)], ["Minutes", intValue(mins)], ["Seconds", realValue(secs, secsNegNaN)]]);
}

export const splitTime: TimeBuiltin = (_n, args, st) => {
  if (args.length !== 1) return ERROR;
  const v = args[0](st);
  if (v.kind === "undefined") return UNDEFINED;
  if (v.kind === "reltime") return splitRel(v.secs, v.negNaN === true);
  const tm = splitAbs(v);
  if (!tm) return ERROR;
  return record([
    ["Type", stringValue("AbsoluteTime")], ["Year", intValue(tm.year)], ["Month", intValue(tm.mon + 1)], ["Day", intValue(tm.mday)],
    ["Hours", intValue(tm.hour)], ["Minutes", intValue(tm.min)], ["Seconds", intValue(tm.sec)], ["Offset", intValue(tm.gmtoff)],
  ]);
};

/** ClassAd::EvaluateAttrInt into an int, or 0 when the attribute is not an integer. */
function intField(st: EvalState, ad: Value & { kind: "classad" }, lname: string): number {
  const v = select(st, ad, lname);
  return v.kind === "integer" ? int32(v) : 0;
}

/** The struct tm formatTime hands strftime: the split fields, wday/yday from day_numbers, no zone. */
function formatFields(st: EvalState, v: Value): Tm | null {
  let sec: number, min: number, hour: number, mday: number, mon: number, year: number;
  if (v.kind === "classad") {
    sec = intField(st, v, "seconds");
    min = intField(st, v, "minutes");
    hour = intField(st, v, "hours");
    mday = intField(st, v, "day");
    const m = select(st, v, "month");
    mon = m.kind === "integer" ? (int32(m) - 1) | 0 : 0;
    const y = select(st, v, "year");
    year = y.kind === "integer" ? int32(y) : 1900;
  } else {
    const tm = splitAbs(v);
    if (!tm) return null;
    ({ sec, min, hour, mday, mon, year } = tm);
  }
  const tmYear = (year - 1900) | 0;
  const { wday, yday } = dayNumbers((tmYear + 1900) | 0, (mon + 1) | 0, mday);
  return { year: (tmYear + 1900) | 0, mon, mday, hour, min, sec, wday, yday, isdst: 0, gmtoff: 0, zone: null };
}

/** HTCondor's strftime writes into 1023 bytes and keeps what fits. */
function formatted(format: string, tm: Tm): Value {
  return stringValue(strftime(format, tm, 1023));
}

export const formatTime: TimeBuiltin = (_n, args, st) => {
  if (args.length === 0) return formatted("%c", localTime(now()));
  if (args.length > 2) return ERROR;
  const t = args[0](st);
  if (t.kind === "reltime") return ERROR;
  const tm = formatFields(st, t);
  if (!tm) return ERROR;
  if (args.length === 1) return formatted("%c", tm);
  const f = args[1](st);
  return f.kind === "string" ? formatted(f.value, tm) : ERROR;
};
