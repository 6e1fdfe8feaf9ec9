// One attempt's logs as text for people: a head line, then the payload's stderr, its stdout and
// the pilot's log (pino JSON lines made readable). `wms job log` and the monitor's log link print it.
import { errorEntry, instantText, type LogReport } from "../../schemas/index.ts";

const LEVELS: Readonly<Record<number, string>> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const NOISE = new Set(["level", "time", "msg", "pid", "hostname", "svc", "name"]);

/** pino JSON lines as `time LEVEL msg key=value ...`; a line that is not JSON is kept as it is. */
export function formatPilotLog(text: string): string {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.entries(o)
          .filter(([k]) => !NOISE.has(k))
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ");
        const time = typeof o.time === "number" ? new Date(o.time).toISOString() : "";
        return `${time} ${LEVELS[Number(o.level)] ?? String(o.level)} ${String(o.msg ?? "")}${extra ? `  ${extra}` : ""}`.trim();
      } catch {
        return line;
      }
    })
    .join("\n");
}

export function formatJobLog(r: LogReport, attempts: readonly number[]): string {
  const code = r.errorCode !== undefined ? `E${r.errorCode} ${errorEntry(r.errorCode)?.name ?? ""}`.trim() : "ok";
  // The other attempts whose logs are kept, so a reader knows what `--attempt N` can show.
  const others = attempts.filter((a) => a !== r.attempt);
  const kept = others.length > 0 ? ` (logs also kept for attempt${others.length > 1 ? "s" : ""} ${others.join(", ")})` : "";
  const out: string[] = [`job ${r.jobId} (task ${r.taskId}) attempt ${r.attempt} at ${r.site} by pilot ${r.pilotId}: ${code}, ${instantText(r.at)}${kept}`];
  const section = (title: string, text: string, truncated: boolean): void => {
    out.push(`--- ${title}${truncated ? " (last 64 KB)" : ""} ---`);
    out.push(text === "" ? "(empty)" : text.replace(/\n$/, ""));
  };
  section("payload stderr", r.stderr, r.truncated.stderr);
  section("payload stdout", r.stdout, r.truncated.stdout);
  section("pilot log", formatPilotLog(r.pilotLog), r.truncated.pilotLog);
  return out.join("\n") + "\n";
}
