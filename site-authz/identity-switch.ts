// gLExec's role, run by the pilot: authorize again, map the DN to a local account, hand the job's
// working directory to it, place the user's proxy readable by it alone, recreate the environment
// through a wrapper, and start the payload under the account's uid/gid. `cleanup()` undoes it all
// however the payload ended. The site's `identitySwitch` decides whether a switch must happen.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { constants } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { ERR, isWmsError, WmsError, type Site } from "../schemas/index.ts";
import { waitGroupGone } from "./account-cleanliness.ts";
import type { AccountMapper, AccountRelease, Mapping } from "./account-mapper.ts";
import { auditRecord, type AuditSink } from "./audit-record.ts";
import { authorizeAudited } from "./audited-authorize.ts";
import type { GridIdentity } from "./grid-identity.ts";
import { resolveAccount, type LocalAccount } from "./local-account.ts";
import { checkPilotSecrets } from "./pilot-secrets-check.ts";
import { wrapperScript } from "./switch-wrapper.ts";
import { checkReachable, restoreOwnership, takeOwnership, type OwnershipRecord } from "./workdir-ownership.ts";

export const DEFAULT_PROXY_FILE = ".x509up";
export const WRAPPER_FILE = ".wms-payload-wrapper.sh";
/** The only environment the spawn itself gets; everything else comes from the wrapper. */
const SPAWN_PATH = "/usr/local/bin:/usr/bin:/bin";

export interface SwitchJob {
  readonly jobId: string;
  readonly walltimeSec?: number;
  /** The attempt the pilot holds and its lease token: what a pool lease is bound to (the pool-lease service checks them). */
  readonly attempt?: number;
  readonly leaseToken?: string;
}

function attemptOf(job: SwitchJob): { attempt: number; leaseToken: string } | undefined {
  return job.attempt !== undefined && job.leaseToken !== undefined ? { attempt: job.attempt, leaseToken: job.leaseToken } : undefined;
}

export interface SwitchRequest {
  readonly site: Site;
  readonly identity: GridIdentity;
  readonly job: SwitchJob;
  readonly pilotId: string;
  readonly node: string;
  /** The job's working directory; it must exist, and every ancestor must be searchable (o+x). */
  readonly workdir: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly proxyPem: string;
  /** The pilot's own token/key directory: must be 0700 and owned by the pilot, checked before a switch. */
  readonly pilotSecretsDir: string;
  /** Needed unless the site's policy is `off`. */
  readonly mapper?: AccountMapper;
  readonly audit: AuditSink;
  /** Default: stdin ignored, stdout/stderr ignored. The pilot passes its log file descriptors. */
  readonly stdio?: StdioOptions;
  /** File name of the proxy inside workdir (default `.x509up`); X509_USER_PROXY points to it. */
  readonly proxyFile?: string;
  /** Write the `identity-switch` audit record in cleanup (default true; the pilot's job-run writes its own). */
  readonly auditSwitch?: boolean;
}

export interface CleanupReport {
  /** Entries whose owner/mode were restored or handed back. */
  readonly restored: number;
  /** The pool release (undefined for static accounts or no switch). */
  readonly release?: AccountRelease;
}

export interface StartedPayload {
  /** Spawned detached: it leads its own process group, so the whole tree can be signalled. */
  readonly child: ChildProcess;
  /** Set when the payload runs under a mapped account. */
  readonly localAccount?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly mapping?: Mapping;
  readonly proxyPath: string;
  readonly startedAt: number;
  /** Replaces the proxy in place after a renewal (still 0600 and the account's). */
  replaceProxy(pem: string): Promise<void>;
  /** Kills what is left of the process group, deletes the proxy and wrapper, restores permissions, releases a pool lease, audits. Idempotent. */
  cleanup(): Promise<CleanupReport>;
}

/** Writes a file that must not exist before (O_EXCL) and must not be reached through a symlink. */
async function writeNew(file: string, data: string, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
  await rm(file, { force: true });
  const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    // fchown before writing: the secret is never in a file someone else owns.
    if (owner) await fh.chown(owner.uid, owner.gid);
    await fh.chmod(mode);
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
}

type Decision = { readonly mode: "self" } | { readonly mode: "switch"; readonly mapping: Mapping; readonly account: LocalAccount };

async function decide(r: SwitchRequest): Promise<Decision> {
  const policy = r.site.identitySwitch;
  if (policy === "off") return { mode: "self" };
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    if (policy === "optional") return { mode: "self" };
    throw new WmsError(ERR.SWITCH_REQUIRED, `site ${r.site.name} requires the identity switch and this pilot does not run as root; nothing was run`);
  }
  if (!r.mapper) {
    if (policy === "optional") return { mode: "self" };
    throw new WmsError(ERR.SWITCH_REQUIRED, `site ${r.site.name} requires the identity switch and the pilot has no account mapper; nothing was run`);
  }
  let mapping: Mapping;
  try {
    mapping = await r.mapper.map(r.identity, { jobId: r.job.jobId, pilotId: r.pilotId, attempt: attemptOf(r.job) });
  } catch (e) {
    // Where the site requires the switch, a payload never falls back to the pilot's identity.
    if (isWmsError(e) && e.code === ERR.MAP_NO_ACCOUNT) {
      if (policy === "optional") return { mode: "self" };
      throw new WmsError(ERR.SWITCH_REQUIRED, `site ${r.site.name} requires the identity switch and ${e.detail}; nothing was run`, { cause: e });
    }
    throw e;
  }
  try {
    const account = resolveAccount(mapping.account);
    if (account.uid === 0 || account.uid === process.getuid?.()) {
      throw new WmsError(ERR.SWITCH_FAILED, `account ${account.name} has uid ${account.uid}, the pilot's own or root's; a payload must never run as either`);
    }
    return { mode: "switch", mapping, account };
  } catch (e) {
    await r.mapper.release(mapping, r.identity.dn, { jobId: r.job.jobId, pilotId: r.pilotId, attempt: attemptOf(r.job) }).catch(() => undefined);
    throw e;
  }
}

/**
 * Starts the payload under the site's policy. Throws (and runs nothing) when authorization
 * refuses (the refusing plug-in's code), mapping fails (MAP_NO_ACCOUNT, MAP_POOL_EXHAUSTED,
 * SWITCH_REQUIRED under `required`) or the switch cannot be made safely (SWITCH_FAILED).
 */
export async function startSwitched(r: SwitchRequest): Promise<StartedPayload> {
  const ctx = { node: r.node, pilotId: r.pilotId, jobId: r.job.jobId };
  const verdict = await authorizeAudited(r.site, r.identity, { walltimeSec: r.job.walltimeSec }, r.audit, ctx);
  if (!verdict.allowed) throw new WmsError(verdict.code ?? ERR.AUTHZ_NOT_ALLOWED, `site ${r.site.name}: ${verdict.reason}; nothing was run`);

  const d = await decide(r);
  const workdir = path.resolve(r.workdir);
  const proxyPath = path.join(workdir, r.proxyFile ?? DEFAULT_PROXY_FILE);
  const wrapperPath = path.join(workdir, WRAPPER_FILE);
  const owner = d.mode === "switch" ? { uid: d.account.uid, gid: d.account.gid } : undefined;
  let ownership: OwnershipRecord | undefined;
  let child: ChildProcess | undefined;

  const undo = async (): Promise<number> => {
    await rm(proxyPath, { force: true });
    await rm(`${proxyPath}.new`, { force: true });
    await rm(wrapperPath, { force: true });
    return ownership && owner ? restoreOwnership(ownership, owner.uid) : 0;
  };

  try {
    if (d.mode === "switch") {
      await checkPilotSecrets(r.pilotSecretsDir, { pilotUid: process.getuid?.() ?? -1, workdir });
      await checkReachable(workdir, d.account.uid, d.account.gid);
      ownership = await takeOwnership(workdir, d.account.uid, d.account.gid);
    }
    await writeNew(proxyPath, r.proxyPem, 0o600, owner);
    const user = d.mode === "switch" ? d.account.name : undefined;
    const env: Record<string, string> = {
      ...r.env,
      HOME: workdir,
      PWD: workdir,
      X509_USER_PROXY: proxyPath,
      ...(user ? { USER: user, LOGNAME: user } : {}),
    };
    if (d.mode === "switch") {
      await writeNew(wrapperPath, wrapperScript({ env, workdir, jobId: r.job.jobId }), 0o644);
      child = spawn("/bin/sh", [wrapperPath, r.command, ...r.args], {
        cwd: workdir,
        uid: d.account.uid,
        gid: d.account.gid,
        env: { PATH: SPAWN_PATH },
        detached: true,
        stdio: r.stdio ?? "ignore",
      });
    } else {
      child = spawn(r.command, [...r.args], { cwd: workdir, env, detached: true, stdio: r.stdio ?? "ignore" });
    }
  } catch (e) {
    await undo().catch(() => undefined);
    if (d.mode === "switch") await r.mapper?.release(d.mapping, r.identity.dn, { jobId: r.job.jobId, pilotId: r.pilotId, attempt: attemptOf(r.job), dirs: [workdir] }).catch(() => undefined);
    if (isWmsError(e)) throw e;
    throw new WmsError(ERR.SWITCH_FAILED, `preparing ${workdir} for the payload failed: ${(e as Error).message}`, { cause: e });
  }

  const started = child;
  const startedAt = Date.now();
  let endedAt: number | undefined;
  started.once("exit", () => (endedAt = Date.now()));
  started.once("error", () => (endedAt ??= Date.now()));
  let cleaned: Promise<CleanupReport> | undefined;

  const cleanup = async (): Promise<CleanupReport> => {
    // Anything still in the payload's group goes first, so nothing races the restore below.
    if (started.pid !== undefined) {
      try {
        process.kill(-started.pid, "SIGKILL");
      } catch {
        // group already empty
      }
      await waitGroupGone(started.pid, 3000);
    }
    const problems: string[] = [];
    let restored = 0;
    try {
      restored = await undo();
    } catch (e) {
      problems.push((e as Error).message);
    }
    let release: AccountRelease | undefined;
    if (d.mode === "switch") {
      try {
        release = await r.mapper?.release(d.mapping, r.identity.dn, { jobId: r.job.jobId, pilotId: r.pilotId, attempt: attemptOf(r.job), dirs: [workdir] });
      } catch (e) {
        problems.push(`pool release: ${(e as Error).message}`);
      }
      if (r.auditSwitch ?? true) {
        await r.audit(
          auditRecord({
            event: "identity-switch",
            dn: r.identity.dn,
            localAccount: d.account.name,
            pilotId: r.pilotId,
            jobId: r.job.jobId,
            site: r.site.name,
            node: r.node,
            startedAt,
            endedAt: endedAt ?? Date.now(),
            detail: `uid ${d.account.uid} gid ${d.account.gid} via ${d.mapping.plugin} for ${r.identity.dn}; exit ${started.exitCode ?? "-"}${started.signalCode ? ` signal ${started.signalCode}` : ""}`,
          }),
        );
      }
    }
    if (problems.length) throw new WmsError(ERR.PILOT_CLEANUP_FAILED, `${workdir}: ${problems.join("; ")}`);
    return { restored, release };
  };

  return {
    child: started,
    localAccount: d.mode === "switch" ? d.account.name : undefined,
    uid: d.mode === "switch" ? d.account.uid : undefined,
    gid: d.mode === "switch" ? d.account.gid : undefined,
    mapping: d.mode === "switch" ? d.mapping : undefined,
    proxyPath,
    startedAt,
    replaceProxy: async (pem) => {
      // Write-then-rename: a reader never sees half a proxy.
      const tmp = `${proxyPath}.new`;
      await writeNew(tmp, pem, 0o600, owner);
      await rename(tmp, proxyPath);
    },
    cleanup: () => (cleaned ??= cleanup()),
  };
}
