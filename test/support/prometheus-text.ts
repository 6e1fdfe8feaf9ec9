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
