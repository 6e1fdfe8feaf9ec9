// The pilot's machine ClassAd: what the matchmaker evaluates job Requirements against. Pure.
// Attribute names agree with the job ad the matchmaker builds from a JobSpec (Cores, MemoryMb,
// WalltimeSec; see README), so the pilot's own Requirements can refuse jobs that cannot fit.

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
}

/** The pilot refuses what does not fit its slot: the matchmaker checks both sides' Requirements. */
export const PILOT_REQUIREMENTS = "TARGET.WalltimeSec <= MY.WalltimeLeft && TARGET.Cores <= MY.Cpus && TARGET.MemoryMb <= MY.Memory";

/** ClassAd string literal: backslash and quote escaped, control characters dropped. */
export function classAdString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\u0000-\u001f]/g, "").replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const int = (n: number): string => String(Math.max(0, Math.floor(n)));

export function buildMachineAd(f: NodeFacts): string {
  const attrs: Array<[string, string]> = [
    ["MyType", classAdString("Machine")],
    ["PilotId", classAdString(f.pilotId)],
    ["Cpus", int(f.cpus)],
    ["Memory", int(f.memoryMb)],
    ["Disk", int(f.diskKb)],
    ["OpSys", classAdString(f.opSys)],
    ["Arch", classAdString(f.arch)],
    ["Machine", classAdString(f.machine)],
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
