// `wms up`: the whole system on one machine from one deployment folder. Each service is a child
// process running its own `wms` command (credentials serve, intake serve, matchmaker, agents,
// monitor, factory run), so each is started by the same composition root an operator's separate
// processes would use, and a crash in one is a restart, not an outage. Services that do not answer
// at the URLs of wms.yaml are started as private servers (platform/local-services.ts).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { configAs, type LoadedConfig } from "../platform/config.ts";
import { ensureServices, freePort, portFree, type ServerSecretFiles, type ServiceUrls, type StartedServices } from "../platform/local-services.ts";
import { checkServices } from "../platform/service-check.ts";
import { ERR, WmsError } from "../schemas/index.ts";
import { createSealKeys, initTransportSecrets, SEAL_PURPOSES, sealKeysPath, type SealPurpose, type TransportRole } from "../security/index.ts";
import { eachLine, LineFormatter, type LineStream } from "./log-lines.ts";
import { stopProcessGroups } from "../platform/process-groups.ts";
import { stopLocalPilots } from "./local-pilots.ts";
import { wmsBin } from "./package-root.ts";
import { UP_SUPERVISOR_ENV, type UpSupervisorMode } from "./ready-message.ts";
import { Supervisor, type ChildSpec } from "./supervisor.ts";
import { isAlive, processRef, readUpState, removeUpState, secretsDirOf, servicesAccess, startTicks, writeUpState, type ProcessRef, type UpState } from "./up-state.ts";

export interface UpOptions {
  readonly loaded: LoadedConfig;
  readonly jsonLogs: boolean;
  readonly colour: boolean;
  /** Where the formatted log lines go (stdout, or the log file of a detached run). */
  readonly write: (text: string) => void;
  /** Aborted on SIGINT/SIGTERM: stop everything cleanly. */
  readonly signal: AbortSignal;
  readonly logFile?: string;
  /** The process environment the children start from. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The order everything stops in: no new pilots, then the pilots (their reports still have agents to land on), then the rest. */
const FACTORY = "factory";

export function deploymentDirOf(loaded: LoadedConfig): string {
  if (loaded.path === undefined) throw new WmsError(ERR.NOT_FOUND, "no wms.yaml here: run 'wms init DIR' and then 'wms up' in DIR (or give --config DIR/wms.yaml)");
  return path.dirname(path.resolve(loaded.path));
}

export async function runUp(o: UpOptions): Promise<void> {
  const { config, names } = o.loaded;
  const dir = deploymentDirOf(o.loaded);
  const configFile = path.resolve(o.loaded.path as string);
  const fmt = new LineFormatter({ json: o.jsonLogs, colour: o.colour });
  const say = (msg: string, level: 30 | 40 | 50 = 30): void => o.write(fmt.own(msg, level));
  const onLine = (proc: string, line: string, stream: LineStream): void => o.write(fmt.format(proc, line, stream));

  const previous = readUpState(dir);
  if (previous && isAlive(previous.supervisor)) {
    throw new WmsError(ERR.DEPLOYMENT_ALREADY_UP, `${dir} (supervisor pid ${previous.supervisor.pid}); see 'wms status', stop it with 'wms down'`);
  }
  if (previous) {
    say("a previous wms up here did not stop cleanly; clearing what it left");
    await sweepLeftovers(dir, previous);
  }

  const monitorPort = config.up.monitorPort === 0 ? await freePort() : config.up.monitorPort;
  if (!(await portFree(monitorPort))) {
    throw new WmsError(ERR.PORT_IN_USE, `the monitor's port 127.0.0.1:${monitorPort}: set up.monitorPort in ${configFile} (0 picks a free one); nothing was started`);
  }

  let state: UpState = {
    supervisor: processRef(process.pid),
    configFile,
    namespace: names.namespace,
    status: "starting",
    startedAt: Date.now(),
    // A Redis Cluster shows as its seed nodes; it is checked and used as the cluster (below).
    urls: { nats: config.nats.url, redis: config.redis.cluster?.nodes.join(",") ?? config.redis.url, rabbitmq: config.rabbitmq.url },
    startedServices: [],
    servicePids: [],
    tempDir: undefined,
    monitorUrl: undefined,
    logFile: o.logFile,
    children: [],
  };
  const save = (patch: Partial<UpState> = {}): void => {
    state = { ...state, ...patch, children: supervisor.status().map((c) => ({ ...c, startTicks: c.pid === undefined ? undefined : startTicks(c.pid) })) };
    writeUpState(dir, state);
  };
  const supervisor = new Supervisor({ onLine, onEvent: say, onChange: () => save() });
  save();

  let services: StartedServices | undefined;
  let tempDir: string | undefined;
  const stopAll = async (): Promise<void> => {
    save({ status: "stopping" });
    await supervisor.stopNamed([FACTORY]);
    const pilots = await stopLocalPilots(dir);
    if (pilots > 0) say(`stopped ${pilots} pilot(s)`);
    await supervisor.stop();
    await services?.stop();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    removeUpState(dir);
  };

  try {
    // 1. The services: those named in wms.yaml, or private ones in a temporary folder, started
    // with the deployment's users (`wms secrets init` in .wms/secrets, made here the first time)
    // so nothing on the machine reaches them anonymously.
    tempDir = mkdtempSync(path.join(tmpdir(), "wms-up-"));
    const secrets = transportSecrets(dir, names, say);
    addMissingSealKeys(config.pki.dir, say);
    services = (await answersAsRoles(o.loaded, state.urls, secrets, say)) ?? (await ensureServices(state.urls, path.join(tempDir, "services"), (line) => say(line), { secrets: secrets.make, redisCluster: config.redis.cluster && config.redis }));
    if (services.started.length === 0) {
      rmSync(tempDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      tempDir = undefined;
    } else {
      say(`started privately: ${services.started.join(", ")}; wms commands run with ${configFile} (here, or --config) use them while this runs`, 40);
    }
    // Each process connects as its own role; commands run later as the operator.
    const identity = (role: TransportRole): string | undefined => (services?.authenticated ? secrets.identityFile(role) : undefined);
    if (services.authenticated && services.started.length > 0) say(`the private servers admit only the users of ${secrets.dir}; each service connects as its own role`);
    // Servers that answer but not as the roles of .wms/secrets are used as they are: say so, as the
    // demo does, or a user who read "authentication on" takes an open deployment for a secured one.
    if (!services.authenticated) say(`${servicesAccess(false)}; for one user per role, point wms.yaml at servers set up from ${secrets.dir}, or at ports where none answers (wms up then starts its own)`, 40);
    save({ urls: services.urls, startedServices: services.started, privateUrls: services.privateUrls, cliIdentityFile: identity("operator"), servicePids: services.pids.map(processRef), tempDir });

    // 2. The pilot-wms services, each its own `wms` command.
    const env: Record<string, string | undefined> = {
      ...o.env,
      WMS_CONFIG: undefined,
      ...serviceUrlEnv(services.urls, config.redis.cluster !== undefined),
      // A service's start line tells how it stops: through this supervisor, not its own Ctrl-C.
      [UP_SUPERVISOR_ENV]: (o.logFile ? "detached" : "attached") satisfies UpSupervisorMode,
    };
    const child = (name: string, args: string[], ready: ChildSpec["ready"] = "message", role?: TransportRole): ChildSpec => ({
      name,
      command: process.execPath,
      args: [wmsBin(), "--config", configFile, ...args],
      cwd: dir,
      env: {
        ...env,
        ...(role !== undefined && identity(role) !== undefined && { WMS_IDENTITY_FILE: identity(role) }),
        // The factory hands its pilots the pilot role's identity, never its own.
        ...(role === "factory" && identity("pilot") !== undefined && { WMS_PILOT_IDENTITY_FILE: identity("pilot") }),
      },
      ready,
    });
    const oneShot = (name: string, args: string[]): Promise<void> => runOnce(child(name, args, "spawn", "operator"), onLine);
    const mm = Array.from({ length: config.up.matchmakers }, (_, i) => `matchmaker-${i + 1}`);
    // A secrets folder made before the pool-lease role has no identity for it: the rest still runs.
    const poolLeasesIdentity = !services.authenticated || existsSync(secrets.identityFile("pool-leases"));
    if (!poolLeasesIdentity) say(`${secrets.dir} has no pool-leases identity (made before that role): pilots at pool-account sites fail with E1003 until the folder is made again with 'wms secrets init'`, 40);
    const mmMetricsPort = config.up.matchmakerMetricsPort;
    say(`starting credentials, pool leases, intake, ${mm.length} matchmaker(s), agents and monitor in namespace ${names.namespace}`);
    await Promise.all([
      supervisor.start(child("credentials", ["credentials", "serve"], "message", "credentials")),
      // Its own process and role, not a part of the credential cache or the matchmaker: its Redis
      // identity reaches the pool keys and reads job records, nothing else (security/transport-roles.ts).
      ...(poolLeasesIdentity ? [supervisor.start(child("pool-leases", ["site", "pool", "serve"], "message", "pool-leases"))] : []),
      supervisor.start(child("intake", ["intake", "serve"], "message", "intake")),
      ...mm.map((name, i) => supervisor.start(child(name, ["matchmaker", ...(mmMetricsPort > 0 ? ["--metrics-port", String(mmMetricsPort + i)] : [])], "message", "matchmaker"))),
      supervisor.start(child("agents", ["agents"], "message", "agents")),
      supervisor.start(child("monitor", ["monitor", "--port", String(monitorPort)], "message", "monitor")),
    ]);
    if (o.signal.aborted) return await stopAll();

    // 3. Set-up that needs the services: users' proxies into the cache, the replica catalogs.
    for (const d of config.up.delegate) {
      const hours = String(d.lifetimeHours);
      await oneShot("proxy", ["proxy", "init", "--cert", path.resolve(dir, d.cert), "--key", path.resolve(dir, d.key), "--retriever", "role:pilot", "--lifetime", hours, "--min-left", String(d.lifetimeHours / 2)]);
    }
    for (const c of config.up.catalogs) await oneShot("replica", ["replica", "load", path.resolve(dir, c)]);

    // 4. Last, the factory: pilots start only when everything they talk to answers.
    await supervisor.start(child(FACTORY, ["factory", "run", "--work-dir", path.join(".wms", "factory")], "spawn", "factory"));
    const monitorUrl = `http://127.0.0.1:${monitorPort}`;
    save({ status: "running", monitorUrl });
    if (mmMetricsPort > 0) say(`matchmaker metrics at ${mm.map((_, i) => `http://127.0.0.1:${mmMetricsPort + i}/metrics`).join(", ")}`);
    say(`up: ${supervisor.status().length} processes running; monitor at ${monitorUrl}; ${o.logFile ? "stop with 'wms down'" : "Ctrl-C stops everything"}`);
  } catch (e) {
    say(`start failed: ${(e as Error).message}; stopping what started`, 50);
    await stopAll();
    throw e instanceof WmsError ? e : new WmsError(ERR.SERVICE_UNAVAILABLE, (e as Error).message);
  }

  await new Promise<void>((resolve) => {
    if (o.signal.aborted) resolve();
    else o.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  say("stopping: factory, pilots, then the services");
  await stopAll();
  say("stopped; nothing left running");
}

/**
 * The servers every child process is pointed at, over wms.yaml's. A Redis Cluster is left to
 * wms.yaml's `redis.cluster.nodes`, which each child reads: WMS_REDIS_URL names one server and
 * replaces the cluster, so setting it ran a cluster deployment on whatever single Redis answered
 * at redis.url's default (the machine's own on 127.0.0.1:6379).
 */
export function serviceUrlEnv(urls: ServiceUrls, redisCluster: boolean): Record<"WMS_NATS_URL" | "WMS_REDIS_URL" | "WMS_RABBITMQ_URL", string | undefined> {
  return { WMS_NATS_URL: urls.nats, WMS_REDIS_URL: redisCluster ? undefined : urls.redis, WMS_RABBITMQ_URL: urls.rabbitmq };
}

/**
 * The error a child `wms` process ended with, from its one line (`wms: error E1010 PORT_IN_USE:
 * ...`), under its own code with `context` in front, so a parent reports the real cause once, not
 * as a service outage with the child's title repeated inside. Without such a line: `fallback`.
 */
export function childError(errorLine: string | undefined, context: string, fallback: string): WmsError {
  const m = /^wms: error E(\d{4}) [A-Z0-9_]+: (.*)$/.exec(errorLine ?? "");
  if (!m) return new WmsError(ERR.SERVICE_UNAVAILABLE, `${context}: ${fallback}`);
  const own = WmsError.fromReply({ code: Number(m[1]), message: m[2] });
  return new WmsError(own.code, `${context}: ${own.detail}`);
}

/**
 * A PKI folder made before a seal purpose existed (report-key) lacks its key file, and the services
 * holding it refuse to start. Every service `wms up` runs reads this one folder, so making the file
 * here, before any of them starts, is the upgrade (elsewhere: `wms pki rotate-seal-key`).
 */
function addMissingSealKeys(pkiDir: string, say: (msg: string) => void): void {
  if (!existsSync(path.join(pkiDir, "ca.pem"))) return;
  for (const purpose of Object.keys(SEAL_PURPOSES) as SealPurpose[]) {
    const file = sealKeysPath(pkiDir, purpose);
    if (existsSync(file)) continue;
    createSealKeys(file, purpose);
    say(`made the ${purpose} seal key the services of this version use (${path.relative(pkiDir, file)} in ${pkiDir})`);
  }
}

/**
 * The deployment's `wms secrets init` files, made on the first `wms up` (the same as running
 * `wms secrets init --dir .wms/secrets` in the folder). An existing folder is used as it is.
 */
/**
 * The services named in wms.yaml, when they run with this deployment's users (servers set up from
 * the files of `wms secrets init` in .wms/secrets, as docker-compose.yml's are) and admit its
 * identities: then each service connects to them as its own role, as on the private servers. The
 * credential cache's identity is the one asked, as it uses all three. Undefined otherwise (no such
 * folder, or servers that refuse it: anonymous ones, or another deployment's), and the services
 * are then used as they are or started privately (ensureServices).
 */
async function answersAsRoles(loaded: LoadedConfig, urls: StartedServices["urls"], secrets: ReturnType<typeof transportSecrets>, say: (msg: string) => void): Promise<StartedServices | undefined> {
  const identity = secrets.identityFile("credentials");
  if (!existsSync(identity)) return undefined;
  const statuses = await checkServices(configAs(loaded, identity).config);
  if (!statuses.every((s) => s.up)) return undefined;
  say(`the services in wms.yaml admit the users of ${secrets.dir}; each service connects as its own role`);
  return { urls, started: [], pids: [], privateUrls: {}, authenticated: true, stop: async () => undefined };
}

function transportSecrets(dir: string, names: LoadedConfig["names"], say: (msg: string) => void): {
  readonly dir: string;
  /** The server files, made first when the folder has none (only when private servers start). */
  make(): ServerSecretFiles;
  identityFile(role: TransportRole): string;
} {
  const root = secretsDirOf(dir);
  const servers = path.join(root, "servers");
  return {
    dir: root,
    make: () => {
      if (!existsSync(servers)) {
        initTransportSecrets(root, names);
        say(`made the deployment's transport identities (wms secrets init --dir ${path.relative(dir, root)})`);
      }
      return { dir: root, natsConfig: path.join(servers, "nats-auth.conf"), redisAclFile: path.join(servers, "redis-users.acl"), rabbitDefinitions: path.join(servers, "rabbitmq-definitions.json") };
    },
    identityFile: (role) => path.join(root, role, "identity.yaml"),
  };
}

/** A set-up command (`wms proxy init`, `wms replica load`): its output in the log, its failure a failed `up`. */
function runOnce(spec: ChildSpec, onLine: (proc: string, line: string, stream: LineStream) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: spec.env, stdio: ["ignore", "pipe", "pipe"] });
    let lastError: string | undefined;
    eachLine(c.stdout, (l) => onLine(spec.name, l, "stdout"));
    eachLine(c.stderr, (l) => {
      if (l.startsWith("wms: error")) lastError = l;
      onLine(spec.name, l, "stderr");
    });
    c.once("error", reject);
    c.once("close", (code) => (code === 0 ? resolve() : reject(childError(lastError, `'wms ${spec.args.slice(3).join(" ")}' failed`, `exit code ${code}`))));
  });
}

/**
 * What `wms down` does when the supervisor is gone (killed, or the machine restarted under it):
 * stop every process the state file names that still runs, the pilots, and delete the temporary folder.
 */
export async function sweepLeftovers(dir: string, state: UpState, graceMs = 10_000): Promise<void> {
  const refs = (which: (name: string) => boolean): ProcessRef[] =>
    state.children.filter((c) => c.pid !== undefined && which(c.name)).map((c) => ({ pid: c.pid as number, startTicks: c.startTicks }));
  await stopProcessGroups(refs((n) => n === FACTORY), graceMs);
  await stopLocalPilots(dir, graceMs);
  await stopProcessGroups(refs(() => true), graceMs);
  await stopProcessGroups(state.servicePids, graceMs);
  if (state.tempDir) rmSync(state.tempDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  removeUpState(dir);
}
