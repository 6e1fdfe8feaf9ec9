// The pilot's machine ClassAd: what the matchmaker evaluates job Requirements against. Pure.
// Attributes carry the names HTCondor's startd and glideinWMS pilots advertise (Cpus, Memory in
// MB, Disk in KB, OpSys, OpSysAndVer, Arch, TotalCpus, HasSingularity, GLIDEIN_Site, Name), so
// Requirements written for an HTCondor pool read the same here. The pilot's own Requirements use
// the job ad's HTCondor names (RequestCpus, RequestMemory, MaxWallTimeMins; see
// jobs/autocluster.ts).

export interface NodeFacts {
  readonly cpus: number;
  readonly memoryMb: number;
  readonly diskKb: number;
  /** HTCondor spelling: LINUX, OSX, WINDOWS. */
  readonly opSys: string;
  /** HTCondor spelling: X86_64, AARCH64. */
  readonly arch: string;
  readonly machine: string;
  readonly site: string;
  readonly nodeVersion: string;
  readonly softwareTags: readonly string[];
  readonly walltimeLeftSec: number;
  readonly pilotId: string;
  /** The startd's OpSysAndVer, e.g. "AlmaLinux9", when the probe could tell. */
  readonly opSysAndVer?: string;
  /** All CPUs of the node (the slot may have fewer). */
  readonly totalCpus?: number;
  /** Whether a container runtime (Apptainer/Singularity) is usable, when the probe tested it. */
  readonly hasSingularity?: boolean;
}

/** The pilot refuses what does not fit its slot: the matchmaker checks both sides' Requirements. */
export const PILOT_REQUIREMENTS = "TARGET.MaxWallTimeMins * 60 <= MY.WalltimeLeft && TARGET.RequestCpus <= MY.Cpus && TARGET.RequestMemory <= MY.Memory";

/** ClassAd string literal: backslash and quote escaped, control characters dropped. */
export function classAdString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\u0000-\u001f]/g, "").replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const int = (n: number): string => String(Math.max(0, Math.floor(n)));

export function buildMachineAd(f: NodeFacts): string {
  const attrs: Array<[string, string]> = [
    ["MyType", classAdString("Machine")],
    ["Name", classAdString(`${f.pilotId}@${f.machine}`)],
    ["PilotId", classAdString(f.pilotId)],
    ["Cpus", int(f.cpus)],
    ["TotalCpus", int(f.totalCpus ?? f.cpus)],
    ["Memory", int(f.memoryMb)],
    ["Disk", int(f.diskKb)],
    ["OpSys", classAdString(f.opSys)],
    ...(f.opSysAndVer !== undefined ? [["OpSysAndVer", classAdString(f.opSysAndVer)] as [string, string]] : []),
    ["Arch", classAdString(f.arch)],
    ...(f.hasSingularity !== undefined ? [["HasSingularity", String(f.hasSingularity)] as [string, string]] : []),
    ["Machine", classAdString(f.machine)],
    ["GLIDEIN_Site", classAdString(f.site)],
    ["Site", classAdString(f.site)],
    ["NodeVersion", classAdString(f.nodeVersion)],
    ["SoftwareTags", `{ ${f.softwareTags.map(classAdString).join(", ")} }`],
    ["WalltimeLeft", int(f.walltimeLeftSec)],
    ["Requirements", PILOT_REQUIREMENTS],
  ];
  return `[\n${attrs.map(([k, v]) => `  ${k} = ${v};`).join("\n")}\n]`;
}

/** HTCondor's names for Node's platform and arch, so job Requirements written for Condor still read right. */
export function condorOpSys(platform: string): string {
  return ({ linux: "LINUX", darwin: "OSX", win32: "WINDOWS", freebsd: "FREEBSD" } as Record<string, string>)[platform] ?? platform.toUpperCase();
}

export function condorArch(arch: string): string {
  return ({ x64: "X86_64", arm64: "AARCH64", ia32: "INTEL", ppc64: "PPC64" } as Record<string, string>)[arch] ?? arch.toUpperCase();
}
