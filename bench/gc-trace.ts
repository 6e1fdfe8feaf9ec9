// What the matchmaker allocates per match, read from V8's own `--trace-gc` lines on its stdout
// (one line per collection: `Scavenge 12.3 (14.1) -> 11.2 (15.1) MB, 0.87 / 0.00 ms ...`).
// Between two collections the heap only grows by what was allocated, so the bytes allocated in a
// window are the sum, over consecutive collections in it, of "used before this one" minus "used
// after the previous one". Node has no cumulative allocation counter to read instead, and a heap
// profile would slow the run it measures. The error is at most the young generation's size at each
// end of the window, small against the gigabytes a loaded run allocates.
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

const LINE = /: (Scavenge|Minor Mark-Compact|Mark-Compact(?: \(reduce\))?|Mark-Sweep)[^\d]*?([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ ([\d.]+) ms/;

export interface GcWindow {
  /** MB allocated between the window's first and last collection. */
  readonly allocatedMb: number;
  readonly collections: number;
  /** Pause of each collection in the window (the main thread's, ms). */
  readonly pausesMs: readonly number[];
  /** Wall time between the first and the last collection, ms. */
  readonly spanMs: number;
}

export class GcTrace {
  private recording = false;
  private lastAfterMb: number | undefined;
  private allocatedMb = 0;
  private pauses: number[] = [];
  private firstAt = 0;
  private lastAt = 0;
  /** How many trace lines were seen at all: 0 means the process was not started with --trace-gc. */
  lines = 0;

  constructor(stdout: Readable) {
    createInterface({ input: stdout }).on("line", (l) => this.line(l));
  }

  private line(l: string): void {
    const m = LINE.exec(l);
    if (!m) return;
    this.lines++;
    const before = Number(m[2]);
    const after = Number(m[4]);
    if (this.recording) {
      const now = performance.now();
      if (this.lastAfterMb !== undefined) this.allocatedMb += Math.max(0, before - this.lastAfterMb);
      else this.firstAt = now;
      this.lastAt = now;
      this.pauses.push(Number(m[6]));
    }
    this.lastAfterMb = this.recording ? after : undefined;
  }

  start(): void {
    this.recording = true;
    this.lastAfterMb = undefined;
    this.allocatedMb = 0;
    this.pauses = [];
  }

  stop(): GcWindow {
    this.recording = false;
    return { allocatedMb: this.allocatedMb, collections: this.pauses.length, pausesMs: this.pauses, spanMs: this.lastAt - this.firstAt };
  }
}
