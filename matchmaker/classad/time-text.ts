// Time values as text, after HTCondor: util.cpp's absTimeToString ("2026-11-23T11:00:00+01:00",
// an offset of zero prints as "-00:00") and relTimeToString ("1+02:03:04", seconds as "%02g"
// when fractional), and literals.cpp's MakeAbsTime / MakeRelTime, which read the strings of
// absTime("...") and relTime("...") literals with their quirks kept: C's atoi on fixed-width
// fields, mktime's normalization, int arithmetic that wraps, (int) casts of doubles.
import { cGeneral } from "./c-exponent.ts";
import { cInt, gmTime, localGmtOffset, mkTime, timezoneOffset } from "./c-time.ts";

const isSpace = (c: string): boolean => c === " " || (c >= "\t" && c <= "\r");
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

/** printf("%02d"). */
function d2(n: number): string {
  return n < 0 ? `-${-n}` : n < 10 ? `0${n}` : String(n);
}

/** printf("%02g"): zero padding applies to numbers only. */
function g2(x: number, negNaN: boolean): string {
  const s = cGeneral(x, 6, negNaN);
  return s.length < 2 && Number.isFinite(x) ? `0${s}` : s;
}

/** The text inside absTime("..."): UTC fields shifted by the offset, then the offset. */
export function absTimeToString(secs: number, offset: number): string {
  const tm = gmTime(secs + offset);
  const sign = offset > 0 ? "+" : "-";
  // util.cpp negates an int: the most negative offset stays negative and prints as "--596523:-14".
  const tz = offset > 0 || offset === -2147483648 ? offset : -offset;
  const date = `${tm.year}-${d2(tm.mon + 1)}-${d2(tm.mday)}T${d2(tm.hour)}:${d2(tm.min)}:${d2(tm.sec)}`;
  return `${date}${sign}${d2(Math.trunc(tz / 3600))}:${d2(Math.trunc(tz / 60) % 60)}`;
}

/**
 * The text inside relTime("..."): [-][days+][hh:][mm:]ss[.fff], leading zero parts left out.
 * Seconds print as a NaN when rsecs is one (its own sign bit, `negNaN`) or infinite (inf - floor(inf)
 * makes x86's default NaN, whose sign bit is set): "-24855+-3:-14:-nan".
 */
export function relTimeToString(rsecs: number, negNaN = false): string {
  const secsNegNaN = rsecs === rsecs ? true : negNaN;
  let out = "";
  if (rsecs < 0) {
    out = "-";
    rsecs = -rsecs;
  }
  const fraction = rsecs - Math.floor(rsecs);
  let days = cInt(rsecs);
  let hrs = days % 86400;
  let mins = hrs % 3600;
  const secs = (mins % 60) + fraction;
  days = Math.trunc(days / 86400);
  hrs = Math.trunc(hrs / 3600);
  mins = Math.trunc(mins / 60);
  const whole = fraction === 0;
  const s = whole ? d2(cInt(secs)) : g2(secs, secsNegNaN);
  if (days) return `${out}${days}+${d2(hrs)}:${d2(mins)}:${s}`;
  if (hrs) return `${out}${d2(hrs)}:${d2(mins)}:${s}`;
  if (mins) return `${out}${d2(mins)}:${s}`;
  return out + s;
}

/** C's atoi: leading digits (the callers start it on a digit). */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  return m ? cInt(Number(m[1])) : 0;
}

function extractTimeZone(s: string): { hr: number; min: number } | null {
  const off = s.substr(s.length - 5, 5);
  if ((off[0] !== "+" && off[0] !== "-") || !isDigit(off[1]) || !isDigit(off[2]) || !isDigit(off[3]) || !isDigit(off[4])) return null;
  const sign = off[0] === "+" ? 1 : -1;
  return { hr: sign * atoi(off.substr(1, 2)), min: sign * atoi(off.substr(3, 2)) };
}

/**
 * MakeAbsTime: a year, then up to five two-digit fields (month, day, hours, minutes, seconds)
 * separated by anything that is not a digit, then an optional zone (Z, +hhmm, +hh:mm).
 * Without a zone the local one is taken. null where HTCondor's parser refuses the literal.
 */
export function parseAbsTime(text: string): { secs: number; offset: number } | null {
  let s = text;
  const len0 = s.length;
  let i = len0 - 1;
  while (i >= 0 && isSpace(s[i])) i--;
  let zone: { hr: number; min: number } | null = null;
  if (i > 0 && (s[i] === "z" || s[i] === "Z")) {
    zone = { hr: 0, min: 0 };
    s = s.slice(0, i) + s.slice(i + 1);
  } else {
    if (len0 > 5 && (s[len0 - 5] === "+" || s[len0 - 5] === "-")) zone = extractTimeZone(s);
    else if (len0 > 6 && (s[len0 - 6] === "+" || s[len0 - 6] === "-") && s[len0 - 3] === ":") {
      s = s.slice(0, len0 - 3) + s.slice(len0 - 2);
      zone = extractTimeZone(s);
    }
    if (zone) s = s.slice(0, s.length - 5);
  }
  const len = s.length;
  i = 0;
  const skip = (): void => {
    while (i < len && !isDigit(s[i])) i++;
  };
  skip();
  if (i > len - 4) return null;
  const year = atoi(s.substr(i, 4));
  i += 4;
  // struct tm starts zeroed: no month is January (tm_mon 0), no day is the 0th (the month before's last).
  const fields = [1, 0, 0, 0, 0];
  for (let f = 0; f < 5; f++) {
    skip();
    if (i <= len - 2) {
      fields[f] = atoi(s.substr(i, 2));
      i += 2;
    }
  }
  skip();
  if (i <= len - 1 && isDigit(s[i])) return null;
  const [month, day, hour, minute, second] = fields;
  const t = mkTime(year, month - 1, day, hour, minute, second);
  if (t === -1) return null;
  const offset = zone ? zone.hr * 3600 + zone.min * 60 : localGmtOffset(t);
  return { secs: t + timezoneOffset(t, true) - offset, offset };
}

/** from_chars into an int: no digits or overflow leaves 0. */
function digitsToInt(d: string): number {
  if (d === "") return 0;
  const n = Number(d);
  return n > 2147483647 ? 0 : n;
}

/**
 * MakeRelTime: read from the end, seconds (digits, a fraction, an optional 's'), then minutes
 * ('m' or ':'), hours ('h' or ':'), days ('d' or '+'), then an optional '-'. Anything else left
 * over makes the literal a parse error (null).
 */
export function parseRelTime(s: string): number | null {
  let i = s.length - 1;
  const back = (): void => {
    while (i >= 0 && isSpace(s[i])) i--;
  };
  const digitsBack = (): string => {
    let d = "";
    while (i >= 0 && isDigit(s[i])) d = s[i--] + d;
    return d;
  };
  let secs = 0;
  let mins = 0;
  let hrs = 0;
  let days = 0;
  back();
  if (i >= 0 && (s[i] === "s" || s[i] === "S" || isDigit(s[i]))) {
    if (s[i] === "s" || s[i] === "S") i--;
    back();
    let num = digitsBack();
    if (i >= 0 && s[i] === ".") {
      i--;
      num = digitsBack() + "." + num;
    }
    const v = num === "." || num === "" ? 0 : Number(num);
    secs = Number.isNaN(v) ? 0 : v;
  }
  const unit = (letters: string): number | null => {
    back();
    if (i < 0 || !letters.includes(s[i])) return null;
    i--;
    back();
    return digitsToInt(digitsBack());
  };
  mins = unit("mM:") ?? 0;
  hrs = unit("hH:") ?? 0;
  days = unit("dD+") ?? 0;
  back();
  let negative = false;
  if (i >= 0 && s[i] === "-") {
    negative = true;
    i--;
  }
  back();
  if (i >= 0) return null;
  const whole = (((Math.imul(days, 86400) + Math.imul(hrs, 3600)) | 0) + Math.imul(mins, 60)) | 0;
  return (negative ? -1 : 1) * (whole + secs);
}
