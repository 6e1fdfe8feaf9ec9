// How `wms up` shows its children's output: each line prefixed with the process it came from.
// Services log pino JSON; in a terminal it is made readable by pino-pretty (one line per record,
// colour when the terminal takes it), and with --json-logs it stays JSON with a `proc` field added,
// for a log collector. Lines that are not JSON (a command's own messages) are kept as they are.
import { prettyFactory } from "pino-pretty";

export type LineStream = "stdout" | "stderr";

export interface LineFormatterOptions {
  readonly json: boolean;
  readonly colour: boolean;
}

/** ANSI colours for prefixes, cycled over the processes; no red (that is for errors). */
const PREFIX_COLOURS = [36, 33, 35, 34, 32, 96, 93, 95, 94, 92];
const PREFIX_WIDTH = 14;
/** The process name `wms up`'s own messages carry, among its children's. */
export const UP_PROC = "up";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export class LineFormatter {
  private readonly pretty: (line: string) => string;
  private readonly colours = new Map<string, number>();

  constructor(private readonly o: LineFormatterOptions) {
    // svc and name repeat the prefix; pid and hostname are the same for every line of a process.
    this.pretty = prettyFactory({ colorize: o.colour, singleLine: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname,svc,name" });
  }

  /** One output line (no trailing newline) of process `proc`, formatted, with its newline. */
  format(proc: string, line: string, stream: LineStream = "stderr"): string {
    let parsed: unknown;
    if (line.startsWith("{")) {
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
    }
    if (this.o.json) {
      const record = isRecord(parsed) ? { ...parsed, proc } : { level: stream === "stderr" ? 40 : 30, time: Date.now(), proc, msg: line };
      return JSON.stringify(record) + "\n";
    }
    const body = isRecord(parsed) && "level" in parsed ? this.pretty(line).replace(/\n$/, "") : line;
    return `${this.prefix(proc)} ${body}\n`;
  }

  /** A message of `wms up` itself, at pino's info (30) or warn (40) level. */
  own(msg: string, level: 30 | 40 | 50 = 30, extra: Record<string, unknown> = {}): string {
    return this.format(UP_PROC, JSON.stringify({ level, time: Date.now(), msg, ...extra }));
  }

  private prefix(proc: string): string {
    const text = proc.padEnd(PREFIX_WIDTH);
    if (!this.o.colour) return `${text}|`;
    let c = this.colours.get(proc);
    if (c === undefined) {
      c = proc === UP_PROC ? 1 : PREFIX_COLOURS[this.colours.size % PREFIX_COLOURS.length];
      this.colours.set(proc, c);
    }
    return `\u001b[${c}m${text}|\u001b[0m`;
  }
}

/**
 * `wms up`'s own progress in a piece of its JSON-lines log (a detached run's `.wms/up/up.log`): its
 * info and warn messages, in order, and the unfinished last line to prepend to the next piece. Its
 * children's lines are left in the log, and so is its error (level 50): `wms up --detach` ends with
 * that cause once, as its one-line error.
 */
export function upProgress(piece: string): { readonly messages: string[]; readonly rest: string } {
  const lines = piece.split("\n");
  const rest = lines.pop() ?? "";
  const messages: string[] = [];
  for (const line of lines) {
    if (!line.startsWith("{")) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    if (isRecord(parsed) && parsed.proc === UP_PROC && typeof parsed.msg === "string" && typeof parsed.level === "number" && parsed.level < 50) messages.push(parsed.msg);
  }
  return { messages, rest };
}

/** Splits a stream into lines, calling `onLine` for each complete one (and the rest at the end). */
export function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    let i: number;
    while ((i = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
  });
  stream.on("end", () => {
    if (buffered.length > 0) onLine(buffered);
    buffered = "";
  });
}
