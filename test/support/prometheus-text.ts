// A strict reader of the Prometheus text exposition format (0.0.4): every line must be a HELP,
// a TYPE, a comment or a sample `name{labels} value [timestamp]`; anything else is an error.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(\\{(.*)\\})?\\s+(\\S+)(\\s+-?\\d+)?$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  text.split("\n").forEach((line, i) => {
    if (line === "" || (line.startsWith("#") && !/^# (HELP|TYPE) /.test(line))) return;
    if (line.startsWith("# HELP ")) {
      if (!new RegExp(`^# HELP ${NAME} `).test(line)) throw new Error(`line ${i + 1}: bad HELP: ${line}`);
      return;
    }
    if (line.startsWith("# TYPE ")) {
      if (!new RegExp(`^# TYPE ${NAME} (counter|gauge|histogram|summary|untyped)$`).test(line)) throw new Error(`line ${i + 1}: bad TYPE: ${line}`);
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      LABEL.lastIndex = 0;
      let consumed = 0;
      let lm: RegExpExecArray | null;
      while ((lm = LABEL.exec(m[3])) !== null) {
        labels[lm[1]] = lm[2];
        consumed = LABEL.lastIndex;
      }
      if (consumed !== m[3].length) throw new Error(`line ${i + 1}: bad labels: ${m[3]}`);
    }
    const value = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== "NaN") throw new Error(`line ${i + 1}: bad value: ${m[4]}`);
    out.push({ name: m[1], labels, value });
  });
  return out;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  readonly samples: Sample[];
}

/**
 * The exposition grouped by family, with the naming and typing rules checked strictly: every
 * sample belongs to a family declared by a TYPE line before it; counters are named `_total` and
 * never negative; a histogram's samples are `_bucket` (with `le`), `_sum` and `_count`, its
 * buckets rise with `le` and end at `+Inf` equal to `_count`. Throws naming the first breach.
 */
export function parsePrometheusFamilies(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  for (const line of text.split("\n")) {
    const m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (!m) continue;
    if (families.has(m[1])) throw new Error(`family ${m[1]} declared twice`);
    families.set(m[1], { name: m[1], type: m[2] as MetricFamily["type"], samples: [] });
  }
  const familyOf = (sample: string): MetricFamily | undefined => {
    const direct = families.get(sample);
    if (direct) return direct;
    for (const suffix of ["_bucket", "_sum", "_count"]) {
      if (!sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || f.type === "summary")) return f;
    }
    return undefined;
  };
  for (const s of parsePrometheusText(text)) {
    const f = familyOf(s.name);
    if (!f) throw new Error(`sample ${s.name} has no TYPE line`);
    f.samples.push(s);
  }
  for (const f of families.values()) {
    if (f.type === "counter") {
      if (!f.name.endsWith("_total")) throw new Error(`counter ${f.name} is not named _total`);
      for (const s of f.samples) if (s.value < 0) throw new Error(`counter ${f.name} is negative`);
    } else if (f.name.endsWith("_total")) {
      throw new Error(`${f.name} is named like a counter but typed ${f.type}`);
    }
    if (f.type === "histogram") {
      const series = new Map<string, Array<{ le: number; value: number }>>();
      const counts = new Map<string, number>();
      for (const s of f.samples) {
        const { le, ...rest } = s.labels;
        const key = JSON.stringify(Object.entries(rest).sort());
        if (s.name === `${f.name}_bucket`) {
          if (le === undefined) throw new Error(`${s.name} without le`);
          series.set(key, [...(series.get(key) ?? []), { le: le === "+Inf" ? Infinity : Number(le), value: s.value }]);
        } else if (s.name === `${f.name}_count`) counts.set(key, s.value);
        else if (s.name !== `${f.name}_sum`) throw new Error(`histogram ${f.name} has sample ${s.name}`);
      }
      for (const [key, buckets] of series) {
        const sorted = [...buckets].sort((a, b) => a.le - b.le);
        sorted.forEach((b, i) => {
          if (i > 0 && b.value < sorted[i - 1].value) throw new Error(`histogram ${f.name} buckets fall at le=${b.le}`);
        });
        const last = sorted.at(-1);
        if (!last || last.le !== Infinity) throw new Error(`histogram ${f.name} has no +Inf bucket`);
        if (counts.get(key) !== last.value) throw new Error(`histogram ${f.name}: +Inf bucket ${last.value} != _count ${counts.get(key)}`);
      }
    }
  }
  return families;
}
