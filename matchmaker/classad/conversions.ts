// HTCondor's convertValueTo{Integer,Real,String}Value and the C library parsing they use.
// Absolute times convert to their seconds; relative times to their seconds cast to int
// (value.h's IsRelativeTimeValue(time_t&) does `(int) secs`), the string forms included.
import { cInt } from "./c-time.ts";
import { absTimeToString, relTimeToString } from "./time-text.ts";
import { formatReal, valueToString } from "./unparse.ts";
import { ERROR, intValue, realValue, stringValue, UNDEFINED, type IntegerValue, type RealValue, type StringValue, type Value } from "./value.ts";

const INT64_MIN = -(2n ** 63n);

/** C's (long long) cast of a double as x86 does it: out of range or NaN gives INT64_MIN. */
export function intFromReal(r: number): IntegerValue {
  if (!Number.isFinite(r) || r >= 2 ** 63 || r < -(2 ** 63)) return intValue(INT64_MIN);
  return intValue(Math.trunc(r) || 0);
}

/** strtod: the longest numeric prefix (after leading white space), or null if there is none. */
export function strtod(s: string): number | null {
  const m =
    /^[ \t\n\v\f\r]*([+-]?)(?:(inf(?:inity)?)|(nan(?:\([0-9A-Za-z_]*\))?)|0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+))(?:[pP]([+-]?\d+))?|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))/i.exec(s);
  if (!m) return null;
  const neg = m[1] === "-";
  let v: number;
  if (m[2]) v = Infinity;
  else if (m[3]) v = NaN;
  else if (m[4] !== undefined) {
    const [ip, fp = ""] = m[4].split(".");
    v = (ip ? parseInt(ip, 16) : 0) + (fp ? parseInt(fp, 16) / 16 ** fp.length : 0);
    if (m[5]) v *= 2 ** Number(m[5]);
  } else v = Number(m[6]);
  return neg ? -v : v;
}

export function toIntegerValue(v: Value): IntegerValue | typeof UNDEFINED | typeof ERROR {
  switch (v.kind) {
    case "undefined": return UNDEFINED;
    case "integer": return v;
    case "real": return intFromReal(v.value);
    case "boolean": return intValue(v.value ? 1 : 0);
    case "string": {
      const r = strtod(v.value);
      return r === null ? ERROR : intFromReal(r);
    }
    case "abstime": return intValue(v.secs);
    case "reltime": return intValue(cInt(v.secs));
    default: return ERROR;
  }
}

export function toRealValue(v: Value): RealValue | typeof UNDEFINED | typeof ERROR {
  switch (v.kind) {
    case "undefined": return UNDEFINED;
    case "integer": return realValue(v.value);
    case "real": return v;
    case "boolean": return realValue(v.value ? 1 : 0);
    case "string": {
      const r = strtod(v.value);
      // strtod("-nan") sets the sign bit.
      return r === null ? ERROR : realValue(r, r !== r && /^[ \t\n\v\f\r]*-/.test(v.value));
    }
    case "abstime": return realValue(v.secs);
    case "reltime": return realValue(cInt(v.secs));
    default: return ERROR;
  }
}

/** The string form: strings as they are, everything else as ClassAd text (reals as %1.15E). */
export function toStringValue(v: Value): StringValue | typeof UNDEFINED | typeof ERROR {
  switch (v.kind) {
    case "undefined": return UNDEFINED;
    case "error": return ERROR;
    case "string": return v;
    case "real": return stringValue(formatReal(v.value));
    case "abstime": return stringValue(absTimeToString(v.secs, v.offset));
    case "reltime": return stringValue(relTimeToString(cInt(v.secs)));
    default: return stringValue(valueToString(v));
  }
}

