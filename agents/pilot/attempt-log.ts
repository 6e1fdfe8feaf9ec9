// What a job attempt leaves to read after its job dir is deleted: the last LOG_TAIL_BYTES of the
// payload's stdout and stderr (read from the end of their files, so a payload that writes
// gigabytes costs the pilot 64 KB), and the pilot's own log lines for that attempt, kept in a
// bounded buffer as they are written. Sent once per attempt as a LogReport.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { pino, multistream, destination, levels, type Level, type Logger, type StreamEntry } from "pino";
import { LOG_TAIL_BYTES, SCHEMA_VERSION, type ErrorCode, type JobSpec, type LogReport } from "../../schemas/index.ts";
import { STDERR_FILE, STDOUT_FILE } from "./payload-launcher.ts";

export interface LogTail {
  readonly text: string;
  readonly truncated: boolean;
}

/** Drops a partial UTF-8 sequence the byte cut left at the start. */
function decodeTail(buf: Buffer, cut: boolean): string {
  let start = 0;
  if (cut) while (start < buf.length && start < 4 && (buf[start] & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString("utf8");
}

/** The last `maxBytes` of a file (empty when it does not exist). */
export function readLogTail(file: string, maxBytes = LOG_TAIL_BYTES): LogTail {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return { text: "", truncated: false };
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(fd, buf, read, length - read, size - length + read);
      if (n === 0) break;
      read += n;
    }
    const truncated = size > maxBytes;
    // Decoding can grow nothing but may leave a replacement char or two; the schema bounds characters.
    return { text: decodeTail(buf.subarray(0, read), truncated).slice(-maxBytes), truncated };
  } finally {
    closeSync(fd);
  }
}

/** The payload's stdout and stderr tails from its job dir; read before the dir is deleted. */
export function payloadTails(jobDir: string): { stdout: LogTail; stderr: LogTail } {
  return { stdout: readLogTail(path.join(jobDir, STDOUT_FILE)), stderr: readLogTail(path.join(jobDir, STDERR_FILE)) };
}

/** A bounded line buffer that keeps the newest LOG_TAIL_BYTES. */
export class BoundedLines {
  private readonly lines: string[] = [];
  private bytes = 0;
  truncated = false;

  constructor(private readonly maxBytes = LOG_TAIL_BYTES) {}

  write(chunk: string): void {
    this.lines.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > this.maxBytes && this.lines.length > 0) {
      this.bytes -= (this.lines.shift() ?? "").length;
      this.truncated = true;
    }
  }

  text(): string {
    return this.lines.join("").slice(-this.maxBytes);
  }
}

/** One stderr stream for every attempt's logger, opened on first use. */
let stderr: ReturnType<typeof destination> | undefined;

export interface AttemptLog {
  /** Logs to the pilot's own log (as `parent` does) and into the attempt's buffer. */
  readonly logger: Logger;
  readonly lines: BoundedLines;
}

/**
 * A logger for one job attempt. pino writes a logger's lines to one stream, so this is a new pino
 * with the parent's level and bindings writing both to stderr (the pilot's log, as createLogger
 * does) and into the buffer. Without a parent only the buffer gets lines.
 */
export function attemptLog(parent: Logger | undefined, bindings: Record<string, unknown>): AttemptLog {
  const lines = new BoundedLines();
  const streams: StreamEntry[] = [{ level: "info", stream: { write: (s: string) => lines.write(s) } }];
  const parentLevel = parent?.level;
  const toStderr = parent !== undefined && parentLevel !== undefined && parentLevel !== "silent";
  if (toStderr) streams.push({ level: parentLevel as Level, stream: (stderr ??= destination(2)) });
  // The logger passes what either stream wants: the buffer takes info and up, stderr the parent's level.
  const level = toStderr && levels.values[parentLevel] < levels.values.info ? parentLevel : "info";
  const logger = pino({ level, base: { ...(parent?.bindings() ?? {}), ...bindings } }, multistream(streams));
  return { logger, lines };
}

/** The attempt's LogReport. */
export function logReport(o: {
  readonly job: Pick<JobSpec, "jobId" | "taskId" | "attempt">;
  readonly pilotId: string;
  readonly site: string;
  readonly reportId: string;
  readonly tails: { stdout: LogTail; stderr: LogTail };
  readonly lines: BoundedLines;
  readonly errorCode?: ErrorCode;
}): LogReport {
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: "log",
    reportId: o.reportId,
    jobId: o.job.jobId,
    taskId: o.job.taskId,
    attempt: o.job.attempt,
    pilotId: o.pilotId,
    site: o.site,
    ...(o.errorCode !== undefined ? { errorCode: o.errorCode } : {}),
    stdout: o.tails.stdout.text,
    stderr: o.tails.stderr.text,
    pilotLog: o.lines.text(),
    truncated: { stdout: o.tails.stdout.truncated, stderr: o.tails.stderr.truncated, pilotLog: o.lines.truncated },
    at: Date.now(),
  };
}
