// Supervised child processes for `wms up`: each service runs as its own `wms` command (the CLI
// command that calls the service's composition root), in a process group of its own so a Ctrl-C
// in the terminal reaches only the supervisor, which then stops the children in order. A child
// that exits on its own is restarted after a back-off that doubles up to a cap, as systemd's
// Restart=on-failure with RestartSec and runit's sv do; one that stays up a while is forgiven.
import { spawn, type ChildProcess } from "node:child_process";
import { signalGroup } from "../platform/process-groups.ts";
import { eachLine, type LineStream } from "./log-lines.ts";
import { READY_MESSAGE } from "./ready-message.ts";

export interface ChildSpec {
  /** Unique name, the log prefix: `matchmaker-2`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * `message`: ready when the child says so over the IPC channel (services call serveUntilStopped,
   * which does); `spawn`: ready once it runs.
   */
  readonly ready: "message" | "spawn";
}

export type ChildState = "starting" | "running" | "restarting" | "stopped" | "failed";

export interface ChildStatus {
  readonly name: string;
  readonly pid: number | undefined;
  readonly state: ChildState;
  readonly restarts: number;
  readonly since: number;
  readonly lastExit?: { readonly code: number | null; readonly signal: string | null; readonly at: number };
}

export interface SupervisorOptions {
  readonly onLine: (proc: string, line: string, stream: LineStream) => void;
  /** Something worth saying about a child: it exited, it is restarted. */
  readonly onEvent: (msg: string, level: 30 | 40 | 50) => void;
  /** Called on every state change (the state file is rewritten from it). */
  readonly onChange?: () => void;
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly stableMs?: number };
  readonly readyTimeoutMs?: number;
  readonly stopGraceMs?: number;
}


class Supervised {
  child: ChildProcess | undefined;
  state: ChildState = "starting";
  restarts = 0;
  failuresInRow = 0;
  since = Date.now();
  startedAt = 0;
  lastExit: ChildStatus["lastExit"];
  lastErrorLine = "";
  restartTimer: NodeJS.Timeout | undefined;
  /** Stopped on purpose: not to be restarted. */
  held = false;
  readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** Resolves once the current run's exit has been handled (state updated). */
  gone: Promise<void> = Promise.resolve();
  markGone: () => void = () => undefined;
  constructor(readonly spec: ChildSpec) {}
}

export class Supervisor {
  private readonly children = new Map<string, Supervised>();
  private stopping = false;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly stableMs: number;

  constructor(private readonly o: SupervisorOptions) {
    this.initialMs = o.backoff?.initialMs ?? 1000;
    this.maxMs = o.backoff?.maxMs ?? 30_000;
    this.stableMs = o.backoff?.stableMs ?? 30_000;
  }

  /** Starts a child and resolves once it is ready; rejects if it exits or stays silent first. */
  start(spec: ChildSpec): Promise<void> {
    if (this.children.has(spec.name)) throw new Error(`a child named ${spec.name} already runs`);
    const s = new Supervised(spec);
    this.children.set(spec.name, s);
    const ready = new Promise<void>((resolve, reject) => s.readyWaiters.push({ resolve, reject }));
    this.launch(s);
    const timeoutMs = this.o.readyTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${spec.name} did not become ready within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    return Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
  }

  status(): ChildStatus[] {
    return [...this.children.values()].map((s) => ({ name: s.spec.name, pid: s.child?.pid, state: s.state, restarts: s.restarts, since: s.since, ...(s.lastExit && { lastExit: s.lastExit }) }));
  }

  /**
   * Stops the children in the order of `groups` (names; each group stopped together), then any
   * not named, all in reverse start order: SIGTERM to the process group, SIGKILL after the grace.
   */
  async stop(groups: ReadonlyArray<readonly string[]> = []): Promise<void> {
    this.stopping = true;
    for (const s of this.children.values()) clearTimeout(s.restartTimer);
    const named = new Set(groups.flat());
    const rest = [...this.children.keys()].filter((n) => !named.has(n)).reverse();
    for (const group of [...groups, rest]) {
      await Promise.all(group.map((name) => this.stopOne(name)));
    }
  }

  /** Stops these children now (in parallel) and keeps them down; the others keep running and supervised. */
  async stopNamed(names: readonly string[]): Promise<void> {
    for (const n of names) {
      const s = this.children.get(n);
      if (!s) continue;
      clearTimeout(s.restartTimer);
      s.held = true;
    }
    await Promise.all(names.map((n) => this.stopOne(n)));
  }

  private async stopOne(name: string): Promise<void> {
    const s = this.children.get(name);
    const child = s?.child;
    if (!s || !child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const pid = child.pid;
    const exited = s.gone;
    signalGroup(pid, "SIGTERM");
    const timer = setTimeout(() => {
      this.o.onEvent(`${name} did not stop within ${(this.o.stopGraceMs ?? 15_000) / 1000} s; killed`, 40);
      signalGroup(pid, "SIGKILL");
    }, this.o.stopGraceMs ?? 15_000);
    await exited;
    clearTimeout(timer);
  }

  private launch(s: Supervised): void {
    const { spec } = s;
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe", ...(spec.ready === "message" ? (["ipc"] as const) : [])],
    });
    s.child = child;
    s.gone = new Promise<void>((r) => (s.markGone = r));
    s.state = s.restarts === 0 ? "starting" : "restarting";
    s.since = Date.now();
    s.startedAt = Date.now();
    const onLine = (stream: LineStream) => (line: string): void => {
      if (stream === "stderr" && line.includes("error")) s.lastErrorLine = line;
      this.o.onLine(spec.name, line, stream);
    };
    if (child.stdout) eachLine(child.stdout, onLine("stdout"));
    if (child.stderr) eachLine(child.stderr, onLine("stderr"));
    const becameReady = (): void => {
      if (s.child !== child || s.state === "running") return;
      s.state = "running";
      s.since = Date.now();
      if (s.restarts > 0) this.o.onEvent(`${spec.name} is running again (pid ${child.pid})`, 30);
      for (const w of s.readyWaiters.splice(0)) w.resolve();
      this.o.onChange?.();
    };
    if (spec.ready === "message") child.on("message", (m) => m === READY_MESSAGE && becameReady());
    else child.once("spawn", becameReady);
    child.once("error", (e) => {
      s.lastErrorLine = e.message;
    });
    child.once("exit", (code, signal) => {
      // The exit event may come before the last output is read; let the pipes drain first.
      setImmediate(() => this.exited(s, child, code, signal));
    });
    this.o.onChange?.();
  }

  private exited(s: Supervised, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (s.child !== child) return;
    s.markGone();
    s.lastExit = { code, signal, at: Date.now() };
    s.child = undefined;
    if (this.stopping || s.held) {
      s.state = "stopped";
      this.o.onChange?.();
      return;
    }
    const wasReady = s.state === "running";
    if (!wasReady && s.readyWaiters.length > 0) {
      // A first start that fails is a configuration problem, not a crash to retry: say why and give up.
      s.state = "failed";
      const why = s.lastErrorLine || `exit code ${code ?? signal}`;
      for (const w of s.readyWaiters.splice(0)) w.reject(new Error(`${s.spec.name} exited before it was ready: ${why}`));
      this.o.onChange?.();
      return;
    }
    const ranMs = Date.now() - s.startedAt;
    s.failuresInRow = ranMs >= this.stableMs ? 1 : s.failuresInRow + 1;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** (s.failuresInRow - 1));
    s.state = "restarting";
    s.restarts += 1;
    this.o.onEvent(
      `${s.spec.name} exited (${signal ? `signal ${signal}` : `code ${code}`}) after ${(ranMs / 1000).toFixed(1)} s; restarting in ${(delay / 1000).toFixed(1)} s (restart ${s.restarts})`,
      40,
    );
    this.o.onChange?.();
    s.restartTimer = setTimeout(() => {
      if (!this.stopping && !s.held) this.launch(s);
    }, delay);
  }
}
