// Probes the worker node the pilot landed on. The edge half of the machine ad: it reads the OS and
// the file system; machine-ad.ts turns the facts into ClassAd text.
import { readFileSync, statfsSync } from "node:fs";
import os from "node:os";
import { ERR, WmsError } from "../../schemas/index.ts";
import { condorArch, condorOpSys, type NodeFacts } from "./machine-ad.ts";
import { walltimeDeadline, walltimeLeftSec, type WalltimeDeadline } from "./walltime-left.ts";

export interface ProbeInput {
  readonly pilotId: string;
  readonly site: string;
  readonly softwareTags: readonly string[];
  /** The work dir whose free space is advertised as Disk. */
  readonly workdir: string;
  readonly deadline: WalltimeDeadline;
  readonly nowMs?: number;
}

/**
 * Finds the batch slot's end from `--walltime`, SLURM_JOB_END_TIME or the HTCondor job ad file named
 * by `_CONDOR_JOB_AD` (see walltime-left.ts for the order). The env is passed in: config is data.
 */
export function probeWalltime(optionSec: number | undefined, env: Readonly<Record<string, string | undefined>>, startedAtMs: number): WalltimeDeadline {
  let condorJobAd: string | undefined;
  const adPath = env._CONDOR_JOB_AD;
  if (adPath) {
    try {
      condorJobAd = readFileSync(adPath, "utf8");
    } catch {
      // An unreadable job ad only means Condor gives no bound; other sources may.
      condorJobAd = undefined;
    }
  }
  return walltimeDeadline({ optionSec, env, condorJobAd, startedAtMs });
}

/** The startd's OpSysAndVer on Linux: os-release's NAME without spaces and VERSION_ID's major number (AlmaLinux9, Ubuntu22). */
function opSysAndVer(): { opSysAndVer?: string } {
  if (os.platform() !== "linux") return {};
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    const field = (k: string): string => new RegExp(`^${k}="?([^"\n]*)"?$`, "m").exec(text)?.[1] ?? "";
    const name = field("NAME").split(" ")[0];
    const major = field("VERSION_ID").split(".")[0];
    return name !== "" && major !== "" ? { opSysAndVer: name + major } : {};
  } catch {
    return {};
  }
}

export function probeNode(input: ProbeInput): NodeFacts {
  let diskKb: number;
  try {
    const fs = statfsSync(input.workdir);
    diskKb = Math.floor((fs.bavail * fs.bsize) / 1024);
  } catch (e) {
    throw new WmsError(ERR.PILOT_PROBE_FAILED, `cannot stat the work dir ${input.workdir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return {
    pilotId: input.pilotId,
    cpus: os.availableParallelism(),
    memoryMb: Math.floor(os.totalmem() / (1024 * 1024)),
    diskKb,
    opSys: condorOpSys(os.platform()),
    ...opSysAndVer(),
    totalCpus: os.cpus().length,
    arch: condorArch(os.arch()),
    machine: os.hostname(),
    site: input.site,
    nodeVersion: process.versions.node,
    softwareTags: input.softwareTags,
    walltimeLeftSec: walltimeLeftSec(input.deadline, input.nowMs ?? Date.now()),
  };
}
