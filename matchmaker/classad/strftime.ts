// strftime as glibc runs it in the C locale (formatTime's formats): conversions, the GNU
// flags (_ - 0 ^ #), field widths, the E and O modifiers (no eras or alternative digits in the
// C locale), and an unknown conversion copied through as written. Numbers are C ints.
import { isLeap, mkTime, tzName, type Tm } from "./c-time.ts";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** C int arithmetic on the (possibly out-of-range) fields of a struct tm. */
const i32 = (n: number): number => n | 0;
const div = (a: number, b: number): number => (a / b) | 0;

/** The number of days from the first day of ISO week 1 of this year to day `yday` (glibc's iso_week_days). */
function isoWeekDays(yday: number, wday: number): number {
  const big = (Math.trunc(366 / 7) + 2) * 7;
  return yday - ((yday - wday + 4 + big) % 7) + 4 - 1;
}

interface Spec {
  pad: string;
  width: number;
  upper: boolean;
  lower: boolean;
}

function padText(s: string, spec: Spec): string {
  let out = spec.lower ? s.toLowerCase() : spec.upper ? s.toUpperCase() : s;
  if (spec.width > out.length) out = (spec.pad === "0" ? "0" : " ").repeat(spec.width - out.length) + out;
  return out;
}

/** do_number: at least `minDigits` digits (or the width), zero padded unless the flags say otherwise. */
function padNumber(value: string, negative: boolean, minDigits: number, spec: Spec, spacePad: boolean): string {
  let pad = spec.pad;
  if (spacePad && pad !== "0" && pad !== "-") pad = "_";
  const digits = Math.max(minDigits, spec.width);
  let body = (negative ? "-" : "") + value;
  let width = spec.width;
  if (pad !== "-") {
    const padding = digits - body.length;
    if (padding > 0) {
      if (pad === "_") {
        body = " ".repeat(padding) + body;
        width = width > padding ? width - padding : 0;
      } else {
        body = (negative ? "-" : "") + "0".repeat(padding) + value;
        width = 0;
      }
    }
  }
  return padText(body, { pad, width, upper: false, lower: false });
}

function num(n: number, minDigits: number, spec: Spec, spacePad = false): string {
  const v = i32(n);
  return padNumber(String(Math.abs(v)), v < 0, minDigits, spec, spacePad);
}

/**
 * strftime(format, tm) in the C locale; `tm` fields are C ints as HTCondor filled them. With a
 * buffer of `maxsize` bytes (the terminating NUL included) the output stops before the first
 * conversion that does not fit, leaving what was written (strftime itself returns 0 then).
 */
export function strftime(format: string, tm: Tm, maxsize = Infinity): string {
  const hour12 = tm.hour > 12 ? tm.hour - 12 : tm.hour === 0 ? 12 : tm.hour;
  let out = "";
  let before = "";
  for (let f = 0; f < format.length; f++) {
    if (out.length >= maxsize) return before;
    before = out;
    if (format[f] !== "%") {
      out += format[f];
      continue;
    }
    const spec: Spec = { pad: "", width: -1, upper: false, lower: false };
    let changeCase = false;
    for (;;) {
      const c = format[++f];
      if (c === "_" || c === "-" || c === "0") spec.pad = c;
      else if (c === "^") spec.upper = true;
      else if (c === "#") changeCase = true;
      else break;
    }
    if (format[f] >= "0" && format[f] <= "9") {
      let w = 0;
      while (format[f] >= "0" && format[f] <= "9") {
        w = w > 214748364 || (w === 214748364 && format[f] > "7") ? 2147483647 : w * 10 + (format.charCodeAt(f) - 48);
        f++;
      }
      spec.width = w;
    }
    let modifier = "";
    if (format[f] === "E" || format[f] === "O") modifier = format[f++];
    const c = format[f];
    const bad = (): string => {
      // Unknown: copied from the nearest '%' back (the conversion character itself when it is
      // one) through the conversion character; a '%' at the very end stands for itself.
      if (c === undefined) f--;
      return padText(format.slice(format.lastIndexOf("%", f), f + 1), spec);
    };
    const text = (s: string, caseFlag: "upper" | "lower" | null): string => {
      if (changeCase && caseFlag === "upper") {
        spec.upper = true;
        spec.lower = false;
      } else if (changeCase && caseFlag === "lower") {
        spec.upper = false;
        spec.lower = true;
      }
      return padText(s, spec);
    };
    const sub = (fmt: string): string => padText(spec.upper ? strftime(fmt, tm).toUpperCase() : strftime(fmt, tm), { ...spec, upper: false, lower: false });
    const wkday = tm.wday < 0 || tm.wday > 6 ? "?" : DAYS[tm.wday];
    const month = tm.mon < 0 || tm.mon > 11 ? "?" : MONTHS[tm.mon];
    const noE = modifier === "E";
    switch (c) {
      case "%": out += modifier ? bad() : padText("%", spec); break;
      case "a": out += modifier ? bad() : text(wkday === "?" ? "?" : wkday.slice(0, 3), "upper"); break;
      case "A": out += modifier ? bad() : text(wkday, "upper"); break;
      case "b": case "h":
        // '#' takes effect before the modifier is checked, so a refused "%#Eh" comes out upper-cased.
        if (changeCase) spec.upper = true;
        out += noE ? bad() : text(month === "?" ? "?" : month.slice(0, 3), "upper");
        break;
      case "B": out += noE ? bad() : text(month, "upper"); break;
      case "c": out += modifier === "O" ? bad() : sub("%a %b %e %H:%M:%S %Y"); break;
      case "C": {
        const year = i32(tm.year);
        out += num(div(year, 100) - (year % 100 < 0 ? 1 : 0), 1, spec);
        break;
      }
      case "x": out += modifier === "O" ? bad() : sub("%m/%d/%y"); break;
      case "D": out += modifier ? bad() : sub("%m/%d/%y"); break;
      case "d": out += noE ? bad() : num(tm.mday, 2, spec); break;
      case "e": out += noE ? bad() : num(tm.mday, 2, spec, true); break;
      case "F": out += modifier ? bad() : sub("%Y-%m-%d"); break;
      case "H": out += noE ? bad() : num(tm.hour, 2, spec); break;
      case "I": out += noE ? bad() : num(hour12, 2, spec); break;
      case "k": out += noE ? bad() : num(tm.hour, 2, spec, true); break;
      case "l": out += noE ? bad() : num(hour12, 2, spec, true); break;
      case "j": out += noE ? bad() : num(1 + tm.yday, 3, spec); break;
      case "M": out += noE ? bad() : num(tm.min, 2, spec); break;
      case "m": out += noE ? bad() : num(tm.mon + 1, 2, spec); break;
      case "n": out += padText("\n", spec); break;
      case "t": out += padText("\t", spec); break;
      case "P":
        spec.lower = true;
        out += text(tm.hour > 11 ? "PM" : "AM", "lower");
        break;
      case "p": out += text(tm.hour > 11 ? "PM" : "AM", "lower"); break;
      case "R": out += sub("%H:%M"); break;
      case "r": out += sub("%I:%M:%S %p"); break;
      case "S": out += noE ? bad() : num(tm.sec, 2, spec); break;
      case "s": {
        // One digit minimum and no sign handling: the width pads the whole number, sign included.
        out += padText(String(mkTime(tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec)), spec);
        break;
      }
      case "X": out += modifier === "O" ? bad() : sub("%H:%M:%S"); break;
      case "T": out += sub("%H:%M:%S"); break;
      case "u": out += num((((tm.wday - 1 + 7) % 7) + 1), 1, spec); break;
      case "U": out += noE ? bad() : num(div(tm.yday - tm.wday + 7, 7), 2, spec); break;
      case "V": case "g": case "G": {
        if (noE) {
          out += bad();
          break;
        }
        let year = i32(tm.year);
        let days = isoWeekDays(tm.yday, tm.wday);
        if (days < 0) {
          year--;
          days = isoWeekDays(tm.yday + (365 + (isLeap(year) ? 1 : 0)), tm.wday);
        } else {
          const d = isoWeekDays(tm.yday - (365 + (isLeap(year) ? 1 : 0)), tm.wday);
          if (d >= 0) {
            year++;
            days = d;
          }
        }
        if (c === "g") out += num((((year % 100) + 100) % 100), 2, spec);
        else if (c === "G") out += num(year, 1, spec);
        else out += num(div(days, 7) + 1, 2, spec);
        break;
      }
      case "W": out += noE ? bad() : num(div(tm.yday - ((tm.wday - 1 + 7) % 7) + 7, 7), 2, spec); break;
      case "w": out += noE ? bad() : num(tm.wday, 1, spec); break;
      case "Y": out += modifier === "O" ? bad() : num(tm.year, 1, spec); break;
      case "y": out += num(((i32(tm.year - 1900) % 100) + 100) % 100, 2, spec); break;
      case "Z": out += text(tm.zone || (tm.isdst >= 0 ? tzName(tm.isdst) : ""), "lower"); break;
      case "z": {
        if (tm.isdst < 0) break;
        let diff = tm.gmtoff;
        let sign = "+";
        if (diff < 0) {
          sign = "-";
          diff = -diff;
        }
        out += padText(sign, spec);
        diff = div(diff, 60);
        out += num(div(diff, 60) * 100 + (diff % 60), 4, spec);
        break;
      }
      default: out += bad(); break;
    }
  }
  return out.length >= maxsize ? before : out;
}
