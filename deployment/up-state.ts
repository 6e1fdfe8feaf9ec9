// What a running `wms up` leaves in its deployment folder so that `wms status` and `wms down`
// (other processes, maybe after the supervisor itself died) can find everything it started:
// `.wms/up/state.json`, rewritten whole (write, then rename) on every change. A pid is trusted only
// with the start time the kernel gives it (field 22 of /proc/PID/stat), so a reused pid is never
// taken for ours.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isAlive, type ProcessRef } from "../platform/process-identity.ts";
import type { ChildStatus } from "./supervisor.ts";

// The one reading of a process's start time and liveness (the pilots' pid files and the factory's local batch ids use it too).
export { isAlive, processRef, startTicks, type ProcessRef } from "../platform/process-identity.ts";

export interface UpState {
  readonly supervisor: ProcessRef;
  readonly configFile: string;
  readonly namespace: string;
  readonly status: "starting" | "running" | "stopping";
  readonly startedAt: number;
  readonly urls: { readonly nats: string; readonly redis: string; readonly rabbitmq: string };
  /** Services `wms up` started itself, and the temporary folder holding their data. */
  readonly startedServices: readonly string[];
  /** The URLs of the private servers among them: where other `wms` commands on this deployment find them. */
  readonly privateUrls?: Partial<Record<"nats" | "redis" | "rabbitmq", string>>;
  /**
   * When the private servers run with authentication on: the identity other `wms` commands on this
   * deployment connect with (the operator role's, from `wms secrets init` in .wms/secrets).
   */
  readonly cliIdentityFile?: string;
  readonly servicePids: readonly ProcessRef[];
  readonly tempDir: string | undefined;
  readonly monitorUrl: string | undefined;
  readonly logFile: string | undefined;
  readonly children: ReadonlyArray<ChildStatus & { readonly startTicks?: string }>;
}

/**
 * How the deployment's processes log in to NATS, Redis and RabbitMQ (`perRole`: the users of
 * .wms/secrets, one per role): `wms up` says it and `wms status` shows it, so servers used as they
 * are (open, or with wms.yaml's one user) are never taken for the secured default.
 */
export function servicesAccess(perRole: boolean): string {
  return perRole ? "each process connects as its own role (users of .wms/secrets)" : "no user per role: every process connects with wms.yaml's credentials (as wms init writes it: none for NATS and Redis, guest for RabbitMQ)";
}

/** Where `wms up` keeps the deployment's transport identities: where compose reads them too (docker-compose.yml). */
export function secretsDirOf(dir: string): string {
  return path.join(dir, ".wms", "secrets");
}

export function upDir(deploymentDir: string): string {
  return path.join(deploymentDir, ".wms", "up");
}

export function stateFile(deploymentDir: string): string {
  return path.join(upDir(deploymentDir), "state.json");
}

export function readUpState(deploymentDir: string): UpState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(deploymentDir), "utf8")) as UpState;
  } catch {
    return undefined;
  }
}

export function writeUpState(deploymentDir: string, state: UpState): void {
  // Owner-only: the private servers' URLs may carry passwords, and the pids are what `wms down` kills.
  mkdirSync(upDir(deploymentDir), { recursive: true, mode: 0o700 });
  const file = stateFile(deploymentDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function removeUpState(deploymentDir: string): void {
  rmSync(stateFile(deploymentDir), { force: true });
}

/**
 * The private servers a running `wms up` started for the deployment whose wms.yaml is `configFile`:
 * what every other `wms` command on that deployment connects to instead of the file's URLs (which
 * did not answer), so `wms task submit` in another terminal needs no flags; with authentication
 * on, also the identity they connect with. Nothing when no `wms up`
 * runs there, or it runs another config file.
 */
export function privateServicesOf(configFile: string): (Partial<Record<"nats" | "redis" | "rabbitmq", string>> & { readonly identityFile?: string }) | undefined {
  const state = readUpState(path.dirname(configFile));
  if (!state?.privateUrls || path.resolve(state.configFile) !== path.resolve(configFile) || !isAlive(state.supervisor)) return undefined;
  return { ...state.privateUrls, ...(state.cliIdentityFile !== undefined && { identityFile: state.cliIdentityFile }) };
}
