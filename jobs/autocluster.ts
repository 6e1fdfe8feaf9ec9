// Autoclusters: jobs that a matchmaker cannot tell apart. Two jobs with the same Requirements, Rank,
// resources, VO, group, owner and priority match exactly the same machines in the same order, so
// they share one ready set per site and one match decision per machine-ad signature. The cost
// of an advert then grows with the number of autoclusters at a site, not with queued jobs. Pure.
import { createHash } from "node:crypto";
import type { JobSpec } from "../schemas/index.ts";

/** The requirement-relevant attributes of a job: all a match decision and its ordering depend on. */
export interface AutoclusterKey {
  readonly requirements: string;
  readonly rank: string;
  readonly cores: number;
  readonly memoryMb: number;
  readonly walltimeSec: number;
  readonly vo: string;
  readonly group: string;
  readonly userDn: string;
  readonly userCaDn: string;
  readonly userRoles: readonly string[];
  readonly priority: number;
}

/**
 * The spec fields `autoclusterKey` reads: a job's ready set depends on these and nothing else (the
 * reconciler reads only these of a record, where the record's own part sets one).
 */
export const AUTOCLUSTER_SPEC_FIELDS = ["requirements", "rank", "cores", "memoryMb", "walltimeSec", "vo", "group", "userDn", "userCaDn", "userRoles", "priority"] as const satisfies ReadonlyArray<keyof JobSpec>;

export function autoclusterKey(spec: JobSpec): AutoclusterKey {
  return {
    requirements: spec.requirements,
    rank: spec.rank,
    cores: spec.cores,
    memoryMb: spec.memoryMb,
    walltimeSec: spec.walltimeSec,
    vo: spec.vo,
    group: spec.group,
    userDn: spec.userDn,
    userCaDn: spec.userCaDn ?? "",
    userRoles: [...(spec.userRoles ?? [])].sort(),
    priority: spec.priority,
  };
}

/** 16 hex digits of SHA-256 over the key's fields in a fixed order: short enough for queue names. */
export function autoclusterId(key: AutoclusterKey): string {
  const canonical = JSON.stringify([key.requirements, key.rank, key.cores, key.memoryMb, key.walltimeSec, key.vo, key.group, key.userDn, key.userCaDn, key.userRoles, key.priority]);
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export const AUTOCLUSTER_ID_RE = /^[0-9a-f]{16}$/;

/**
 * For the benchmarks' plain BullMQ baseline, queued in the same order as ours. BullMQ priorities run 1 (first) .. 2^21; task priorities run -1000 .. 10000 with higher first.
 * 0 is avoided: BullMQ reads it as "no priority" and puts the job on a plain list.
 */
export function bullPriority(taskPriority: number): number {
  return 10001 - Math.max(-1000, Math.min(10000, Math.trunc(taskPriority)));
}

function adString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\u0000-\u001f]/g, "").replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** HTCondor's Owner is a user name; ours are DNs, so the DN's last CN stands in ("/DC=org/CN=Jane Doe" → "Jane Doe"). */
function ownerName(dn: string): string {
  const cns = dn.split("/").filter((p) => p.toUpperCase().startsWith("CN="));
  return cns.length > 0 ? cns[cns.length - 1].slice(3) : dn;
}

/**
 * The job ClassAd of an autocluster, evaluated against machine ads. Attributes carry HTCondor's
 * job-ad names (RequestCpus, RequestMemory in MB, MaxWallTimeMins as glideinWMS sets it, Owner,
 * x509userproxysubject, x509UserProxyVOName, AcctGroup, JobPrio), so Requirements and Rank written
 * for an HTCondor pool read the same. The names of earlier releases (Cores, MemoryMb, WalltimeSec,
 * VO, Group, Priority) stay as aliases for one release; see the README.
 * An empty Requirements means "any machine"; an empty Rank ranks every machine 0.
 */
export function jobAdText(key: AutoclusterKey): string {
  const attrs: Array<[string, string]> = [
    ["MyType", adString("Job")],
    ["RequestCpus", String(key.cores)],
    ["RequestMemory", String(key.memoryMb)],
    ["MaxWallTimeMins", String(Math.ceil(key.walltimeSec / 60))],
    ["Owner", adString(ownerName(key.userDn))],
    ["x509userproxysubject", adString(key.userDn)],
    ["x509UserProxyVOName", adString(key.vo)],
    ["AcctGroup", adString(key.group)],
    ["JobPrio", String(key.priority)],
    // Aliases kept for one release (deprecated).
    ["Cores", String(key.cores)],
    ["MemoryMb", String(key.memoryMb)],
    ["WalltimeSec", String(key.walltimeSec)],
    ["VO", adString(key.vo)],
    ["Group", adString(key.group)],
    ["Priority", String(key.priority)],
    ["Requirements", key.requirements.trim() === "" ? "true" : `(${key.requirements})`],
    ["Rank", key.rank.trim() === "" ? "0" : `(${key.rank})`],
  ];
  return `[\n${attrs.map(([k, v]) => `  ${k} = ${v};`).join("\n")}\n]`;
}
