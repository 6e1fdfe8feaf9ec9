// For the demo and `wms up` on a machine where the services are not already answering: start the
// locally installed servers on private ports with data folders of their own, stopped again at the
// end; otherwise say exactly what to install. Not the compose file's servers: they run with
// authentication on, admitting only the users of the `.wms/secrets` beside docker-compose.yml,
// which a caller here neither holds nor can know is the one they read.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join, resolve } from "node:path";
import { ERR, WmsError, type WmsConfig } from "../schemas/index.ts";
import { checkNats, checkRabbit, checkRedis, type ServiceName, type ServiceStatus } from "./service-check.ts";
import { redactUrl } from "./service-targets.ts";

export interface ServiceUrls {
  nats: string;
  redis: string;
  rabbitmq: string;
}

export interface StartedServices {
  readonly urls: ServiceUrls;
  /** What was started (empty when every service already answered). */
  readonly started: string[];
  /** Process ids of the private servers started (each leads its own process group). */
  readonly pids: number[];
  /** The URLs of the private servers started (not those of services that answered). */
  readonly privateUrls: Partial<ServiceUrls>;
  /**
   * True when the servers admit only the deployment's users (those this call started with the
   * `secrets` it was given; `wms up` also sets it for configured servers that admit them): each
   * client must then connect with a role's identity.
   */
  readonly authenticated: boolean;
  stop(): Promise<void>;
}

/** The files of `wms secrets init` (security/transport-secrets.ts): its folder and the server-side ones. */
export interface ServerSecretFiles {
  readonly dir: string;
  readonly natsConfig: string;
  readonly redisAclFile: string;
  readonly rabbitDefinitions: string;
}

const INSTALL_HINT: Record<ServiceName, string> = {
  redis: "apt-get install redis-server",
  nats: "apt-get install nats-server",
  rabbitmq: "apt-get install rabbitmq-server",
};

function which(bin: string, extra: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", ...extra]) {
    const p = join(dir, bin);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether nothing listens on 127.0.0.1:`port` now (a listen that succeeds, closed at once). */
export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function waitUp(check: () => Promise<Pick<ServiceStatus, "state">>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A server that refuses an anonymous probe is up: with authentication on, that is the answer.
    if ((await check()).state !== "down") return true;
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

export interface LaunchedProcess {
  readonly child: ChildProcess;
  /** Signals the process group (SIGTERM unless told), SIGKILL after 10 s; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A server process in a process group of its own, so stopping it stops whatever it forked too. */
export function launchProcessGroup(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): LaunchedProcess {
  const child = spawn(cmd, args, { stdio: "ignore", env, detached: true });
  return {
    child,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      try {
        process.kill(-child.pid, signal);
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface PrivateRedisOptions {
  /** Append-only file fsynced on every write, so a restart on the same data dir keeps everything. Default: no persistence. */
  readonly appendOnly?: boolean;
  /** With `appendOnly`: fsync on every write (default) or once a second (`everysec`, what production configs use). */
  readonly appendFsync?: "always" | "everysec";
  /** A fixed port (to restart on the port clients already use); default: a free one. */
  readonly port?: number;
  /** Redis ACL file (users per role, `wms secrets init`); the default user is then off. */
  readonly aclFile?: string;
  /** TLS only (no plain port), with this certificate and key: the URL is then rediss://. */
  readonly tls?: ServerTls;
}

/** A server's TLS certificate and key (PEM files); clients need its CA (or the certificate itself). */
export interface ServerTls {
  readonly certFile: string;
  readonly keyFile: string;
}

/** Up when the port accepts a connection: what a TLS server whose CA the probe does not hold can tell. */
function portOpen(port: number): Promise<Pick<ServiceStatus, "state">> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve({ state: "up" });
    });
    s.on("error", () => resolve({ state: "down" }));
  });
}

export async function startPrivateRedis(dataDir: string, opts: PrivateRedisOptions = {}): Promise<{ url: string; port: number; pid: number | undefined; stop: (signal?: NodeJS.Signals) => Promise<void> }> {
  const bin = which("redis-server");
  if (!bin) throw new WmsError(ERR.SERVICE_UNAVAILABLE, `Redis does not answer and redis-server is not installed: ${INSTALL_HINT.redis}`);
  mkdirSync(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const persistence = opts.appendOnly ? ["--appendonly", "yes", "--appendfsync", opts.appendFsync ?? "always"] : ["--appendonly", "no"];
  const acl = opts.aclFile !== undefined ? ["--aclfile", opts.aclFile] : [];
  // With TLS the plain port is closed (0) and clients are not asked for certificates: they authenticate as ACL users.
  const listen = opts.tls ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", opts.tls.certFile, "--tls-key-file", opts.tls.keyFile, "--tls-ca-cert-file", opts.tls.certFile, "--tls-auth-clients", "no"] : ["--port", String(port)];
  const l = launchProcessGroup(bin, [...listen, "--bind", "127.0.0.1", "--dir", dataDir, "--save", "", ...persistence, ...acl]);
  const url = `${opts.tls ? "rediss" : "redis"}://127.0.0.1:${port}`;
  if (!(await waitUp(() => (opts.tls ? portOpen(port) : checkRedis(url)), 15_000))) {
    await l.stop();
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `a private redis-server on port ${port} did not start`);
  }
  return { url, port, pid: l.child.pid, stop: l.stop };
}

export interface PrivateNatsOptions {
  /** An authorization block (users and permissions, `wms secrets init`'s nats-auth.conf) to include. */
  readonly authConfig?: string;
  /** A fixed port (to restart on the port clients already use); default: a free one. */
  readonly port?: number;
  /** Require TLS with this certificate and key: the URL is then tls://. */
  readonly tls?: ServerTls;
}

/**
 * The `tls` block of a private nats-server that requires TLS. nats-server drops a client that has
 * not finished its TLS handshake within `timeout` (2 s by default; its auth timeout then follows at
 * timeout + 1 s). A client on a loaded machine can take longer, and nats.js notices the dropped
 * connection only at its own 20 s connect timeout, then fails without retrying; 10 s leaves a busy
 * client room. The command line's --tls flags cannot set the timeout.
 */
export function natsTlsBlock(tls: ServerTls): string {
  return `tls {\n  cert_file: ${JSON.stringify(tls.certFile)}\n  key_file: ${JSON.stringify(tls.keyFile)}\n  timeout: 10\n}\n`;
}

export async function startPrivateNats(dataDir: string, opts: PrivateNatsOptions = {}): Promise<{ url: string; port: number; pid: number | undefined; stop: (signal?: NodeJS.Signals) => Promise<void> }> {
  const bin = which("nats-server");
  if (!bin) throw new WmsError(ERR.SERVICE_UNAVAILABLE, `NATS does not answer and nats-server is not installed: ${INSTALL_HINT.nats}`);
  mkdirSync(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  // No JetStream: nothing in pilot-wms uses it (README, "Scaling out").
  let args = ["-a", "127.0.0.1", "-p", String(port)];
  // Users, permissions and TLS settings can only come from a config file; the listen settings stay
  // on the command line. The users are copied rather than included: nats-server resolves an
  // include relative to the including file.
  const conf: string[] = [];
  if (opts.authConfig !== undefined) conf.push(readFileSync(opts.authConfig, "utf8"));
  if (opts.tls) conf.push(natsTlsBlock(opts.tls));
  if (conf.length > 0) {
    const file = join(dataDir, "nats-server.conf");
    writeFileSync(file, conf.join("\n"), { mode: 0o600 });
    args = [...args, "-c", file];
  }
  const l = launchProcessGroup(bin, args);
  const url = `${opts.tls ? "tls" : "nats"}://127.0.0.1:${port}`;
  if (!(await waitUp(() => (opts.tls ? portOpen(port) : checkNats(url)), 15_000))) {
    await l.stop();
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `a private nats-server on port ${port} did not start`);
  }
  return { url, port, pid: l.child.pid, stop: l.stop };
}

export interface PrivateRabbitOptions {
  /** Users, vhost and permissions to load at boot (`wms secrets init`'s rabbitmq-definitions.json); guest is then removed. */
  readonly definitionsFile?: string;
  /** A fixed AMQP port (to restart on the port clients already use, with the same data folder and node name); default: a free one. */
  readonly port?: number;
}

export interface PrivateRabbit {
  readonly url: string;
  readonly port: number;
  /** The RabbitMQ node's process (the leader of its process group). */
  readonly pid: number | undefined;
  /** Every process to stop: the node's and its private epmd's. */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/** Waits until `port` on loopback accepts connections (or the time is up). */
async function untilListening(port: number, timeoutMs: number): Promise<boolean> {
  return waitUp(() => portOpen(port), timeoutMs);
}

export async function startPrivateRabbit(dataDir: string, opts: PrivateRabbitOptions = {}): Promise<PrivateRabbit> {
  // The Debian wrapper in /usr/sbin switches to the rabbitmq user and its fixed node; the script
  // under /usr/lib/rabbitmq/bin runs a node of our own with its own ports and data folder.
  const bin = which("rabbitmq-server", ["/usr/lib/rabbitmq/bin"]);
  const direct = existsSync("/usr/lib/rabbitmq/bin/rabbitmq-server") ? "/usr/lib/rabbitmq/bin/rabbitmq-server" : bin;
  if (!direct) throw new WmsError(ERR.SERVICE_UNAVAILABLE, `RabbitMQ does not answer and rabbitmq-server is not installed: ${INSTALL_HINT.rabbitmq}`);
  mkdirSync(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const dist = await freePort();
  const node = `wmsdemo${port}@localhost`;
  // An Erlang node registers with epmd, and when none answers on its port, it starts one as a
  // daemon (`epmd -daemon`) that leaves the node's process group and outlives it. So the node gets
  // an epmd of its own on a free port (ERL_EPMD_PORT), in a group of its own, stopped with it.
  const epmdBin = which("epmd", ["/usr/lib/erlang/bin"]) ?? "epmd";
  const epmdPort = await freePort();
  const epmd = launchProcessGroup(epmdBin, ["-port", String(epmdPort), "-address", "127.0.0.1"]);
  if (!(await untilListening(epmdPort, 10_000))) {
    await epmd.stop();
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `a private epmd (the Erlang port mapper RabbitMQ needs) on port ${epmdPort} did not start`);
  }
  const env = {
    ...process.env,
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_NODENAME: node,
    RABBITMQ_MNESIA_BASE: join(dataDir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dataDir, "log"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dataDir, "enabled_plugins"),
    RABBITMQ_CONFIG_FILE: join(dataDir, "rabbitmq"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dataDir, "advanced.config"),
    HOME: dataDir,
    // A node that fails to start writes its crash dump into the working directory otherwise (the
    // checkout, for tests and `wms up`); with its log, where the error message points.
    ERL_CRASH_DUMP: join(dataDir, "log", "erl_crash.dump"),
  };
  if (opts.definitionsFile !== undefined) {
    // Imported at boot (RabbitMQ's definitions.local.path), so the broker never runs with guest as
    // its only user; the guest it creates on a fresh database is deleted once it answers.
    writeFileSync(join(dataDir, "rabbitmq.conf"), `definitions.import_backend = local_filesystem\ndefinitions.local.path = ${resolve(opts.definitionsFile)}\n`);
  }
  const server = launchProcessGroup(direct, [], env);
  // The node first, so it does not lose its port mapper while it shuts down.
  const stop = async (): Promise<void> => {
    await server.stop();
    await epmd.stop();
  };
  const url = opts.definitionsFile !== undefined ? `amqp://127.0.0.1:${port}` : `amqp://guest:guest@127.0.0.1:${port}`;
  if (!(await waitUp(() => checkRabbit(`amqp://guest:guest@127.0.0.1:${port}`), 90_000))) {
    await stop();
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `a private rabbitmq-server on port ${port} did not start (log in ${join(dataDir, "log")})`);
  }
  if (opts.definitionsFile !== undefined) {
    const ctl = existsSync("/usr/lib/rabbitmq/bin/rabbitmqctl") ? "/usr/lib/rabbitmq/bin/rabbitmqctl" : (which("rabbitmqctl") ?? "rabbitmqctl");
    // Asynchronous: rabbitmqctl boots an Erlang VM (1-3 s, far more on a loaded machine), and a
    // process that restarts its broker while serving (a fault test's matchmaker and credential
    // cache) stalled for all of it: its pilots' heartbeats went unanswered and their leases ran out.
    const deleteGuest = (): Promise<{ status: number; stdout: string; stderr: string }> =>
      new Promise((done) =>
        execFile(ctl, ["-n", node, "delete_user", "guest"], { env, encoding: "utf8", timeout: 60_000 }, (err, stdout, stderr) => done({ status: err ? 1 : 0, stdout, stderr })),
      );
    const gone = (r: { status: number; stdout: string; stderr: string }): boolean => r.status === 0 || /user_not_found|does not exist/i.test(`${r.stdout}${r.stderr}`);
    // Tried again: on a loaded machine rabbitmqctl's own VM has failed to reach a node that already
    // answered AMQP ("unable to perform an operation on node"), which failed a whole test run's set-up.
    let r = await deleteGuest();
    for (let tries = 1; !gone(r) && tries < 5; tries++) {
      await new Promise((t) => setTimeout(t, 2000 * tries));
      r = await deleteGuest();
    }
    if (!gone(r)) {
      await stop();
      throw new WmsError(ERR.SERVICE_UNAVAILABLE, `a private rabbitmq-server on port ${port}: deleting guest failed: ${(r.stderr || r.stdout).split("\n")[0]}`);
    }
  }
  const pids = [server.child.pid, epmd.child.pid].filter((p): p is number => p !== undefined);
  return { url, port, pid: server.child.pid, pids, stop };
}

/**
 * Makes sure all three services answer. Those already answering at `urls` are used as they are;
 * the others are started as private local servers.
 */
export async function ensureServices(
  urls: ServiceUrls,
  workDir: string,
  log: (line: string) => void = () => undefined,
  o: {
    /**
     * When none of the three answers: start the private servers with these users and permissions
     * (`wms secrets init`), no anonymous access. Servers that some other service answers beside are
     * started without, as the one that answers takes no identity either. Asked for only when needed.
     */
    readonly secrets?: () => ServerSecretFiles;
    /**
     * The config's Redis section when it names a Redis Cluster (`redis.cluster.nodes`): checked as
     * a cluster instead of `urls.redis`. A private single server never stands in for it: a
     * deployment set up for a cluster would run on a server without its data, so a cluster that
     * does not answer is E1003 and nothing is started.
     */
    readonly redisCluster?: WmsConfig["redis"];
  } = {},
): Promise<StartedServices> {
  const [nats, redis, rabbit] = await Promise.all([checkNats(urls.nats), checkRedis(o.redisCluster ?? urls.redis), checkRabbit(urls.rabbitmq)]);
  if (o.redisCluster !== undefined && redis.state === "auth-failed") {
    throw new WmsError(ERR.SERVICE_AUTH_FAILED, `the Redis Cluster in the config (${redis.url}) answers but refused our login (${redis.error ?? "credentials refused"}); ${redis.howToStart ?? ""}; nothing was started`);
  }
  if (o.redisCluster !== undefined && !redis.up) {
    throw new WmsError(ERR.SERVICE_UNAVAILABLE, `the Redis Cluster in the config (${redis.url}) does not answer: ${redis.error ?? redis.state}; start its nodes (a private server does not stand in for a cluster); nothing was started`);
  }
  const down = [nats, redis, rabbit].filter((s) => !s.up).map((s) => s.service);
  if (down.length === 0) return { urls, started: [], pids: [], privateUrls: {}, authenticated: false, stop: async () => undefined };
  const secrets = down.length === 3 ? o.secrets?.() : undefined;

  const missing = down.filter((s) => !which({ nats: "nats-server", redis: "redis-server", rabbitmq: "rabbitmq-server" }[s], ["/usr/lib/rabbitmq/bin"]));
  if (missing.length) {
    throw new WmsError(
      ERR.SERVICE_UNAVAILABLE,
      `${down.join(", ")} not answering and not installed here: ${missing.map((s) => INSTALL_HINT[s]).join("; ")}`,
    );
  }
  if (secrets) {
    // The one way private servers with authentication on are started (the demo's too).
    const s = await startAuthenticatedServices(workDir, secrets, log);
    const started = (["nats", "redis", "rabbitmq"] as const).map((k) => `${k} (${s.urls[k]}, authentication on)`);
    return { urls: s.urls, started, pids: [...s.pids], privateUrls: { ...s.urls }, authenticated: true, stop: s.stop };
  }
  const stops: Array<() => Promise<void>> = [];
  const started: string[] = [];
  const pids: number[] = [];
  const out = { ...urls };
  try {
    if (down.includes("redis")) {
      log("starting a private redis-server");
      const s = await startPrivateRedis(join(workDir, "redis"));
      out.redis = s.url;
      stops.push(s.stop);
      if (s.pid !== undefined) pids.push(s.pid);
      started.push(`redis (${s.url})`);
    }
    if (down.includes("nats")) {
      log("starting a private nats-server");
      const s = await startPrivateNats(join(workDir, "nats"));
      out.nats = s.url;
      stops.push(s.stop);
      if (s.pid !== undefined) pids.push(s.pid);
      started.push(`nats (${s.url})`);
    }
    if (down.includes("rabbitmq")) {
      log("starting a private rabbitmq-server (takes ~15-30 s)");
      const s = await startPrivateRabbit(join(workDir, "rabbitmq"));
      out.rabbitmq = s.url;
      stops.push(s.stop);
      pids.push(...s.pids);
      // `wms status` shows these lines: the URL carries the node's guest password.
      started.push(`rabbitmq (${redactUrl(s.url)})`);
    }
  } catch (e) {
    await Promise.all(stops.map((s) => s()));
    throw e;
  }
  const privateUrls = Object.fromEntries(down.map((s) => [s, out[s]]));
  return { urls: out, started, pids, privateUrls, authenticated: false, stop: async () => void (await Promise.all(stops.map((s) => s()))) };
}

export interface AuthenticatedServices {
  readonly urls: ServiceUrls;
  /** `wms secrets init`'s folder: one identity file per role, the server files under servers/. */
  readonly secretsDir: string;
  identityFile(role: string): string;
  /** Every process started (each leads its own process group; RabbitMQ's port mapper too). */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/**
 * Private NATS, Redis and RabbitMQ with authentication on, from the installed servers: the users,
 * permissions and ACLs `wms secrets init` writes for this namespace, no anonymous user, no guest.
 * RabbitMQ takes 20-30 s to start on a small machine; the other two well under a second.
 */
export async function startAuthenticatedServices(
  workDir: string,
  secrets: ServerSecretFiles,
  log: (line: string) => void = () => undefined,
): Promise<AuthenticatedServices> {
  const stops: Array<() => Promise<void>> = [];
  try {
    log("starting private nats-server, redis-server and rabbitmq-server with authentication on (RabbitMQ takes ~15-30 s)");
    // All settled before judging, so a server that started while another failed is stopped too.
    const [n, r, q] = await Promise.allSettled([
      startPrivateNats(join(workDir, "nats"), { authConfig: secrets.natsConfig }),
      startPrivateRedis(join(workDir, "redis"), { aclFile: secrets.redisAclFile }),
      startPrivateRabbit(join(workDir, "rabbitmq"), { definitionsFile: secrets.rabbitDefinitions }),
    ]);
    for (const x of [n, r, q]) if (x.status === "fulfilled") stops.push(x.value.stop);
    for (const x of [n, r, q]) if (x.status === "rejected") throw x.reason;
    if (n.status !== "fulfilled" || r.status !== "fulfilled" || q.status !== "fulfilled") throw new WmsError(ERR.INTERNAL, "unreachable");
    const [nats, redis, rabbit] = [n.value, r.value, q.value];
    return {
      urls: { nats: nats.url, redis: redis.url, rabbitmq: rabbit.url },
      secretsDir: secrets.dir,
      identityFile: (role) => join(secrets.dir, role, "identity.yaml"),
      pids: [nats.pid, redis.pid, ...rabbit.pids].filter((p): p is number => p !== undefined),
      stop: async () => void (await Promise.all(stops.map((s) => s()))),
    };
  } catch (e) {
    await Promise.all(stops.map((s) => s()));
    throw e;
  }
}
