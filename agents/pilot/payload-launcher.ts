// How a payload is started. The pilot holds one PayloadLauncher per job: `directLauncher` runs the
// payload as the pilot's own user; the identity-switch launcher (identity-switch-launcher.ts) hands
// it to site-authz to run as the account mapped from the user's DN (gLExec's role: Groep et al.,
// "gLExec: gluing grid computing to the Unix world", J. Phys. Conf. Ser. 119 (2008) 062032).
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, openSync, closeSync } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { JobSpec, Site } from "../../schemas/index.ts";
import { containPayload } from "./payload-containment.ts";

/** The user proxy's place in the job dir; X509_USER_PROXY points here. */
export const PROXY_FILE = ".x509up";
export const STDOUT_FILE = "payload.stdout";
export const STDERR_FILE = "payload.stderr";

export interface LaunchRequest {
  readonly job: JobSpec;
  /** The lease token of this attempt's claim (the pool-lease service checks it with the attempt). */
  readonly lockToken: string;
  readonly submitterDn: string;
  readonly pilotId: string;
  readonly site: Site;
  readonly jobDir: string;
  /** Complete environment, X509_USER_PROXY included (it names `<jobDir>/PROXY_FILE`). */
  readonly env: Record<string, string>;
  readonly proxyPem: string;
  /** The pilot's own secrets dir (0700), which a switched payload must not reach. */
  readonly pilotSecretsDir: string;
  readonly node: string;
}

export interface LaunchedPayload {
  /** Spawned detached: it leads its own process group, so the whole tree can be signalled. */
  readonly child: ChildProcess;
  /** The local account it runs as, when switched. */
  readonly localAccount?: string;
  /** Replaces the proxy file in place after a renewal. */
  replaceProxy(pem: string): Promise<void>;
  /** Deletes the proxy, restores permissions, releases leases. Idempotent; runs however the payload ended. */
  cleanup(): Promise<void>;
}

export type PayloadLauncher = (req: LaunchRequest) => Promise<LaunchedPayload>;

export function proxyPathOf(jobDir: string): string {
  return path.join(jobDir, PROXY_FILE);
}

/** Opens the payload's stdout/stderr log files; the caller closes them after spawn. */
export function openPayloadLogs(jobDir: string, mode = 0o600): [number, number] {
  return [openSync(path.join(jobDir, STDOUT_FILE), "a", mode), openSync(path.join(jobDir, STDERR_FILE), "a", mode)];
}

/** True when `exe` names an executable file, as execvp would find it (cwd-relative or on PATH). */
function executableExists(exe: string, cwd: string, pathVar: string | undefined): boolean {
  const candidates = exe.includes("/") ? [path.resolve(cwd, exe)] : (pathVar ?? "").split(":").filter(Boolean).map((d) => path.join(d, exe));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Runs the payload as the pilot's own user, for sites whose `identitySwitch` is `off`, inside a
 * containment (payload-containment.ts) so that cleanup ends every process it started, `setsid`
 * escapes included.
 */
export const directLauncher: PayloadLauncher = async (req) => {
  const proxyPath = proxyPathOf(req.jobDir);
  await writeFile(proxyPath, req.proxyPem, { mode: 0o600 });
  const containment = await containPayload(req.job.jobId);
  // A missing executable is spawned unwrapped, so it fails as a start failure (ENOENT), not as a shell's exit 127.
  const run = executableExists(req.job.executable, req.jobDir, req.env.PATH) ? containment.wrap(req.job.executable, req.job.arguments) : { command: req.job.executable, args: [...req.job.arguments] };
  const [out, err] = openPayloadLogs(req.jobDir);
  let child: ChildProcess;
  try {
    child = spawn(run.command, run.args, { cwd: req.jobDir, env: { ...req.env, ...containment.env }, detached: true, stdio: ["ignore", out, err] });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  let cleaned = false;
  return {
    child,
    replaceProxy: async (pem) => {
      // Write-then-rename keeps a reader from ever seeing half a proxy.
      const tmp = `${proxyPath}.new`;
      await writeFile(tmp, pem, { mode: 0o600 });
      await rename(tmp, proxyPath);
    },
    cleanup: async () => {
      if (cleaned) return;
      cleaned = true;
      await containment.killAll();
      await rm(proxyPath, { force: true });
      await rm(`${proxyPath}.new`, { force: true });
    },
  };
};
