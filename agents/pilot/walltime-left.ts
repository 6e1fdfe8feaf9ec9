// Where a pilot learns how long its batch slot lasts. Pure: the caller reads the environment and
// the job-ad file and passes them in, so every source can be tested without a batch system.

/** The sources, in the order they win: an explicit limit, then Slurm, then HTCondor's job ad. */
export type WalltimeSource = "option" | "slurm" | "condor" | "none";

export interface WalltimeInputs {
  /** `--walltime SEC`, counted from `startedAtMs`. */
  readonly optionSec?: number;
  /** Environment variables of the batch slot (only the ones named below are read). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Text of the file `_CONDOR_JOB_AD` names, when the caller could read it. */
  readonly condorJobAd?: string;
  readonly startedAtMs: number;
}

export interface WalltimeDeadline {
  readonly source: WalltimeSource;
  /** Epoch ms when the slot ends; undefined when nothing bounds it. */
  readonly deadlineMs: number | undefined;
}

/** A slot with no known bound still advertises a finite value, so job Requirements can compare it. */
export const UNBOUNDED_WALLTIME_SEC = 7 * 86400;

const positive = (n: number): boolean => Number.isFinite(n) && n > 0;

/** Reads `Name = value` lines of an HTCondor ad (old ClassAd syntax) into numbers where they are numbers. */
function condorNumbers(adText: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of adText.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(-?[0-9.]+)\s*$/.exec(line);
    if (m) out.set(m[1].toLowerCase(), Number(m[2]));
  }
  return out;
}

/**
 * Slurm exports SLURM_JOB_END_TIME (epoch seconds) to the job. HTCondor has no standard limit, so
 * we read the two conventions sites use in the job ad: `MaxRuntime` (seconds, CERN) or
 * `MaxWallTimeMins` (minutes), counted from `JobCurrentStartDate` (epoch seconds) when present.
 */
export function walltimeDeadline(input: WalltimeInputs): WalltimeDeadline {
  if (input.optionSec !== undefined && positive(input.optionSec)) return { source: "option", deadlineMs: input.startedAtMs + input.optionSec * 1000 };
  const slurmEnd = Number(input.env.SLURM_JOB_END_TIME);
  if (positive(slurmEnd)) return { source: "slurm", deadlineMs: slurmEnd * 1000 };
  if (input.condorJobAd !== undefined) {
    const ad = condorNumbers(input.condorJobAd);
    const limitSec = ad.get("maxruntime") ?? (ad.has("maxwalltimemins") ? (ad.get("maxwalltimemins") ?? 0) * 60 : undefined);
    if (limitSec !== undefined && positive(limitSec)) {
      const start = ad.get("jobcurrentstartdate");
      const startMs = start !== undefined && positive(start) ? start * 1000 : input.startedAtMs;
      return { source: "condor", deadlineMs: startMs + limitSec * 1000 };
    }
  }
  return { source: "none", deadlineMs: undefined };
}

/** Whole seconds left at `nowMs` (never negative). */
export function walltimeLeftSec(deadline: WalltimeDeadline, nowMs: number): number {
  if (deadline.deadlineMs === undefined) return UNBOUNDED_WALLTIME_SEC;
  return Math.max(0, Math.floor((deadline.deadlineMs - nowMs) / 1000));
}
