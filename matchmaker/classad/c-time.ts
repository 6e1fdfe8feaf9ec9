// The C library's time calls as HTCondor makes them (gmtime_r, localtime_r, mktime with
// tm_isdst = 0, util.cpp's timezone_offset) and C's integer conversions where HTCondor casts.
// Local time is the process's time zone (the TZ environment variable, as for HTCondor), read
// through JavaScript's Date; where C knows more than Date tells (whether daylight saving time
// is in force), a year's smaller offset is taken to be its standard time.

/** Broken-down time: struct tm's fields (`year` is the full year, not tm_year). */
export interface Tm {
  year: number;
  mon: number;
  mday: number;
  hour: number;
  min: number;
  sec: number;
  wday: number;
  yday: number;
  isdst: number;
  /** Seconds east of Greenwich (tm_gmtoff). */
  gmtoff: number;
  /** The zone's abbreviation (tm_zone); null where HTCondor leaves the field zeroed. */
  zone: string | null;
}

/** C's (int) cast of a double on x86-64: NaN and out-of-range values become INT_MIN. */
export function cInt(x: number): number {
  return x > -2147483649 && x < 2147483648 ? Math.trunc(x) || 0 : -2147483648;
}

/** Days from 1970-01-01 to year-month(1..12)-day in the proleptic Gregorian calendar. */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function isLeap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

/** gmtime_r. */
export function gmTime(t: number): Tm {
  const days = Math.floor(t / 86400);
  const rem = t - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const mday = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const mon = mp < 10 ? mp + 2 : mp - 10;
  const year = yoe + era * 400 + (mon < 2 ? 1 : 0);
  const yday = days - daysFromCivil(year, 1, 1);
  return {
    year, mon, mday,
    hour: Math.floor(rem / 3600), min: Math.floor((rem % 3600) / 60), sec: rem % 60,
    wday: (((days + 4) % 7) + 7) % 7, yday, isdst: 0, gmtoff: 0, zone: null,
  };
}

/** timegm of possibly out-of-range fields, normalized as mktime normalizes them. */
export function timeGm(year: number, mon: number, mday: number, hour: number, min: number, sec: number): number {
  const y = year + Math.floor(mon / 12);
  const m = ((mon % 12) + 12) % 12;
  return (daysFromCivil(y, m + 1, 1) + mday - 1) * 86400 + hour * 3600 + min * 60 + sec;
}

const MAX_DATE_SECONDS = 8.64e12;

/** Seconds east of Greenwich in the local zone at `t` (tm_gmtoff of localtime_r). */
export function localGmtOffset(t: number): number {
  if (!(Math.abs(t) <= MAX_DATE_SECONDS)) return 0;
  // From the local fields: getTimezoneOffset rounds local mean time offsets to whole minutes.
  const d = new Date(t * 1000);
  return timeGm(d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()) - Math.floor(t);
}

function standardOffset(t: number): number {
  const y = gmTime(t).year;
  return Math.min(localGmtOffset(timeGm(y, 0, 1, 0, 0, 0)), localGmtOffset(timeGm(y, 6, 1, 0, 0, 0)));
}

function isDst(t: number): boolean {
  return localGmtOffset(t) > standardOffset(t);
}

/** util.cpp timezone_offset: the local zone's offset at `t`, less an hour of daylight saving time if `noDst`. */
export function timezoneOffset(t: number, noDst: boolean): number {
  const off = localGmtOffset(t);
  return noDst && isDst(t) ? off - 3600 : off;
}

/** C's tzname[isdst] for the local zone: its abbreviation in standard (or daylight saving) time this year. */
export function tzName(isdst: number): string {
  const y = gmTime(now()).year;
  const jan = timeGm(y, 0, 1, 0, 0, 0);
  const jul = timeGm(y, 6, 1, 0, 0, 0);
  const janFirst = localGmtOffset(jan) <= localGmtOffset(jul);
  const at = isdst > 0 ? (janFirst ? jul : jan) : janFirst ? jan : jul;
  const parts = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(new Date(at * 1000));
  return parts.find((p) => p.type === "timeZoneName")?.value ?? "UTC";
}

/** localtime_r (tm_zone left null: only strftime's %Z reads it, through tzName). */
export function localTime(t: number): Tm {
  const off = localGmtOffset(t);
  const tm = gmTime(t + off);
  tm.gmtoff = off;
  tm.isdst = isDst(t) ? 1 : 0;
  tm.zone = null;
  return tm;
}

/**
 * mktime of local fields with tm_isdst = 0: the instant whose local time the fields are, moved
 * an hour later when daylight saving time is in force there (the fields claim standard time).
 */
export function mkTime(year: number, mon: number, mday: number, hour: number, min: number, sec: number): number {
  const u = timeGm(year, mon, mday, hour, min, sec);
  let t = u - localGmtOffset(u);
  t = u - localGmtOffset(t);
  return isDst(t) ? t + 3600 : t;
}

/** The current time in whole seconds, time(NULL). */
export function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** util.cpp fixed_from_gregorian / day_numbers with C int arithmetic: weekday (0 is Sunday) and day of the year. */
export function dayNumbers(year: number, month: number, day: number): { wday: number; yday: number } {
  const leap = (y: number): boolean => {
    const mod400 = y % 400;
    return y % 4 === 0 && mod400 !== 100 && mod400 !== 200 && mod400 !== 300;
  };
  const fixed = (y: number, m: number, d: number): number => {
    const adj = m <= 2 ? 0 : leap(y) ? -1 : -2;
    const y1 = (y - 1) | 0;
    let f = Math.imul(365, y1);
    f = (f + ((y1 / 4) | 0)) | 0;
    f = (f - ((y1 / 100) | 0)) | 0;
    f = (f + ((y1 / 400) | 0)) | 0;
    f = (f + (((Math.imul(367, m) - 362) | 0) / 12 | 0)) | 0;
    return (f + adj + d) | 0;
  };
  const f = fixed(year, month, day);
  return { wday: f % 7, yday: (f - fixed(year, 1, 1)) | 0 };
}
