// The tests' one look at the process table (Linux /proc, proc(5)): which processes a test started,
// found by what it gave them (a command-line argument, an environment variable), since a pid alone
// may meanwhile belong to someone else.
import { readdirSync, readFileSync } from "node:fs";

/** One process, read on demand: each read throws once the process is gone (or is not ours to read). */
export interface ProcessView {
  readonly pid: number;
  /** Its command line, one element per argument. */
  argv(): string[];
  /** Its environment at start, `NAME=value` each. */
  environ(): string[];
  /** Its process group. */
  pgid(): number;
}

function view(pid: number): ProcessView {
  return {
    pid,
    argv: () => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1),
    environ: () => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0"),
    pgid: () => {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    },
  };
}

/** The processes `match` accepts; one that ends (or cannot be read) while it is asked about is left out. */
export function findProcesses(match: (p: ProcessView) => boolean): ProcessView[] {
  const out: ProcessView[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const p = view(Number(name));
    try {
      if (match(p)) out.push(p);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** Pids of the processes with `arg` as one of their command-line arguments. */
export function pidsWithArg(arg: string): number[] {
  return findProcesses((p) => p.argv().includes(arg)).map((p) => p.pid);
}

/** Process groups of the processes whose environment holds every one of `vars` (`NAME=value`). */
export function groupsWithEnv(...vars: string[]): number[] {
  const groups = new Set<number>();
  for (const p of findProcesses((q) => {
    const env = q.environ();
    return vars.every((v) => env.includes(v));
  })) {
    try {
      groups.add(p.pgid());
    } catch {
      // gone meanwhile
    }
  }
  return [...groups];
}
