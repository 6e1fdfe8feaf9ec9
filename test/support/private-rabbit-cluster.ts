// A private RabbitMQ cluster from the installed server, for cluster and fault tests: `n` rabbitmq-server
// nodes (default 3), each with its own node name, AMQP and distribution ports and data folder in one
// temp folder, sharing an Erlang cookie (`$HOME/.erlang.cookie`, HOME being that folder) and a
// private epmd on a free port (ERL_EPMD_PORT), so the machine's RabbitMQ and its epmd on 4369 are
// never touched. The nodes boot in parallel and form the cluster by classic config peer discovery
// (each lists all); a node that formed one of its own instead is made to join the first node's with
// `rabbitmqctl stop_app / reset / join_cluster / start_app`. No plugins (management included).
// Every process is stopped by its own process group at the end.
// In a run with authentication on (runServerAuth) every node loads the run's users, vhost and
// permissions at boot and guest is deleted: the roles' identities log in as on the run's broker. The
// cluster's own `cluster-admin` user (an operator's, no wms role; full rights on the run's vhost)
// is what each node's `url` logs in with, for tests that probe the broker as an operator would.
// Measured on this 2-core machine at a load of 18-19: 3 nodes up as one cluster in 24-31 s (5 runs),
// where booting them alone and joining them with rabbitmqctl took 44-60 s (each call 1-3 s or more).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchProcessGroup, type LaunchedProcess } from "../../platform/local-services.ts";
import { loadConfig } from "../../platform/config.ts";
import { checkRabbit } from "../../platform/service-check.ts";
import { freePortPair, until } from "./private-clusters.ts";
import { asRole, runServerAuth } from "./test-roles.ts";

// The Debian wrappers in /usr/sbin switch to the rabbitmq user and its fixed node; the scripts here
// run a node of our own.
const BIN = existsSync("/usr/lib/rabbitmq/bin/rabbitmq-server") ? "/usr/lib/rabbitmq/bin" : "";
const bin = (name: string): string => (BIN ? join(BIN, name) : name);

export interface RabbitClusterNode {
  /** Erlang node name, `wms-rmq-<label><rand>-<i>@localhost`. */
  readonly name: string;
  readonly port: number;
  /** An operator's URL for this node alone: `amqp://guest:guest@127.0.0.1:<port>`, or cluster-admin's on the run's vhost with authentication on. */
  readonly url: string;
  readonly pid: number | undefined;
  /** SIGKILL to the node's process group: a crash; the cluster keeps going on the majority. */
  kill(): Promise<void>;
  /** Whether the node's process still runs. */
  alive(): boolean;
}

/** One queue as `rabbitmqctl list_queues` reports it. */
export interface RabbitQueueInfo {
  readonly name: string;
  readonly type: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  /** Quorum queues: the nodes holding a replica, and the leader's node. */
  readonly members: readonly string[];
  readonly leader: string;
  readonly messages: number;
}

export interface PrivateRabbitCluster {
  readonly nodes: readonly RabbitClusterNode[];
  /** Every node's URL as one comma-separated list: `rabbitmq.url` of a cluster (tried in order); no credentials with authentication on (each role brings its identity). */
  readonly urlList: string;
  /** Runs `rabbitmqctl -n <node> ...args` against node `i` (a live one); resolves with its stdout. */
  ctl(i: number, args: readonly string[]): Promise<string>;
  /** The nodes node `i` sees running in its cluster. */
  runningNodes(i: number): Promise<string[]>;
  /** The queues of the vhost in use (the default one, or the run's with authentication on), as node `i` sees them. */
  queues(i: number): Promise<RabbitQueueInfo[]>;
  stop(): Promise<void>;
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** list_queues' JSON gives arguments as `[name, AMQP type, value]` triples; as a plain object here. */
function queueArguments(raw: unknown): Record<string, unknown> {
  if (!Array.isArray(raw)) return (raw ?? {}) as Record<string, unknown>;
  return Object.fromEntries((raw as unknown[][]).map((t) => [String(t[0]), t[t.length - 1]]));
}

/** `n` rabbitmq-server nodes joined into one cluster; throws (having stopped everything) if it does not form. */
export async function startRabbitCluster(label: string, n = 3): Promise<PrivateRabbitCluster> {
  const root = mkdtempSync(join(tmpdir(), `wms-rmqcluster-${label}-`));
  const auth = runServerAuth();
  const vhost = auth ? (JSON.parse(readFileSync(auth.rabbitDefinitions, "utf8")) as { vhosts: Array<{ name: string }> }).vhosts[0].name : "/";
  const admin = auth ? { user: "cluster-admin", pass: randomBytes(24).toString("hex") } : undefined;
  // Whether node `port` answers: as guest, or as the agents' identity once the run's users are on.
  const probe = (port: number): Parameters<typeof checkRabbit>[0] =>
    auth ? asRole(loadConfig({ path: undefined, env: { WMS_RABBITMQ_URL: `amqp://127.0.0.1:${port}` } }), "agents").config.rabbitmq : `amqp://guest:guest@127.0.0.1:${port}`;
  const taken = new Set<number>();
  const procs: LaunchedProcess[] = [];
  let epmd: LaunchedProcess | undefined;
  const stop = async (): Promise<void> => {
    // Nodes first: a node outliving its epmd could not be reached by rabbitmqctl any more.
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    await epmd?.stop();
    rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  try {
    // The cookie every node and rabbitmqctl read from $HOME; Erlang refuses one others may read.
    writeFileSync(join(root, ".erlang.cookie"), randomBytes(16).toString("hex").toUpperCase(), { mode: 0o400 });
    const epmdPort = await freePortPair(0, taken);
    epmd = launchProcessGroup("epmd", ["-port", String(epmdPort), "-address", "127.0.0.1"]);
    await until("the private epmd did not listen", async () => ((await portAccepts(epmdPort)) ? true : undefined), 10_000);
    // Nothing of the caller's RabbitMQ or Erlang settings leaks in. `-start_epmd false`: should the
    // private epmd be gone, a node or rabbitmqctl fails instead of leaving an epmd daemon behind.
    const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("RABBITMQ_") && !k.startsWith("ERL_")));
    Object.assign(baseEnv, { HOME: root, ERL_EPMD_PORT: String(epmdPort), ERL_FLAGS: "-start_epmd false" });
    const tag = `${label.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12)}${randomBytes(3).toString("hex")}`;
    const specs: Array<{ name: string; port: number; dir: string }> = [];
    for (let i = 1; i <= n; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir);
      specs.push({ name: `wms-rmq-${tag}-${i}@localhost`, port: await freePortPair(0, taken), dir });
    }
    for (const s of specs) {
      // rabbitmqctl takes its own distribution port from RABBITMQ_DIST_PORT + 10000 upwards: keep that free too.
      const dist = await freePortPair(10_000, taken);
      writeFileSync(join(s.dir, "enabled_plugins"), "[].\n");
      // Classic config peer discovery: booting in parallel, the node that takes the discovery lock
      // forms the cluster and the others join it (RabbitMQ 3.10 locks instead of random delays).
      const definitions = auth ? ["definitions.import_backend = local_filesystem", `definitions.local.path = ${auth.rabbitDefinitions}`] : [];
      writeFileSync(join(s.dir, "rabbitmq.conf"), ["cluster_formation.peer_discovery_backend = classic_config", ...specs.map((x, k) => `cluster_formation.classic_config.nodes.${k + 1} = ${x.name}`), ...definitions, ""].join("\n"));
      procs.push(
        launchProcessGroup(bin("rabbitmq-server"), [], {
          ...baseEnv,
          RABBITMQ_NODENAME: s.name,
          RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
          RABBITMQ_NODE_PORT: String(s.port),
          RABBITMQ_DIST_PORT: String(dist),
          RABBITMQ_MNESIA_BASE: join(s.dir, "mnesia"),
          RABBITMQ_LOG_BASE: join(s.dir, "log"),
          RABBITMQ_ENABLED_PLUGINS_FILE: join(s.dir, "enabled_plugins"),
          RABBITMQ_CONFIG_FILE: join(s.dir, "rabbitmq"),
          RABBITMQ_ADVANCED_CONFIG_FILE: join(s.dir, "advanced.config"),
          RABBITMQ_CONF_ENV_FILE: join(s.dir, "rabbitmq-env.conf"),
        }),
      );
    }
    const ctl = (i: number, args: readonly string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        // Asynchronous: a test process also runs agents and matchmakers, which must not stall for the CLI's 1-3 s.
        execFile(bin("rabbitmqctl"), ["-n", specs[i].name, ...args], { env: baseEnv, timeout: 120_000, encoding: "utf8" }, (err, stdout, stderr) => {
          if (err) reject(new Error(`rabbitmqctl -n ${specs[i].name} ${args.join(" ")}: ${(stderr || stdout || err.message).trim().split("\n").slice(-3).join(" ")}`));
          else resolve(stdout);
        });
      });
    await Promise.all(
      specs.map((s, i) =>
        until(
          `rabbitmq-server ${s.name} did not answer on ${s.port} (log in ${join(s.dir, "log")})`,
          async () => {
            if (procs[i].child.exitCode !== null) throw new Error(`exited with ${procs[i].child.exitCode}`);
            return (await checkRabbit(probe(s.port), 2000)).up ? true : undefined;
          },
          120_000,
        ),
      ),
    );
    const runningNodes = async (i: number): Promise<string[]> => {
      const status = JSON.parse(await ctl(i, ["cluster_status", "--formatter", "json"])) as { running_nodes?: string[] };
      return status.running_nodes ?? [];
    };
    const all = specs.map((s) => s.name).sort();
    const formed = async (): Promise<true | undefined> => (JSON.stringify((await runningNodes(0)).sort()) === JSON.stringify(all) ? true : undefined);
    const discovered = await until("discovery", formed, 10_000).catch(() => false);
    if (!discovered) {
      // A node that formed a cluster of its own instead: made to join the first node's, one at a time
      // (joins to one node while another still syncs its schema may time out).
      const inFirst = new Set(await runningNodes(0));
      for (let i = 1; i < n; i++) {
        if (inFirst.has(specs[i].name)) continue;
        for (const step of [["stop_app"], ["reset"], ["join_cluster", specs[0].name], ["start_app"]]) await ctl(i, step);
      }
      await until("the RabbitMQ cluster did not form", formed, 60_000);
    }
    for (const s of specs) await until(`${s.name} did not answer after joining`, async () => ((await checkRabbit(probe(s.port), 2000)).up ? true : undefined), 60_000);
    if (admin) {
      await ctl(0, ["add_user", admin.user, admin.pass]);
      await ctl(0, ["set_permissions", "-p", vhost, admin.user, ".*", ".*", ".*"]);
      await ctl(0, ["delete_user", "guest"]).catch((e: Error) => {
        if (!/user_not_found|does not exist/i.test(e.message)) throw e;
      });
    }
    const nodes = specs.map((s, i) => ({
      name: s.name,
      port: s.port,
      url: admin ? `amqp://${admin.user}:${admin.pass}@127.0.0.1:${s.port}/${encodeURIComponent(vhost)}` : `amqp://guest:guest@127.0.0.1:${s.port}`,
      pid: procs[i].child.pid,
      kill: () => procs[i].stop("SIGKILL"),
      alive: () => procs[i].child.exitCode === null && procs[i].child.signalCode === null,
    }));
    return {
      nodes,
      urlList: auth ? specs.map((s) => `amqp://127.0.0.1:${s.port}`).join(",") : nodes.map((x) => x.url).join(","),
      ctl,
      runningNodes,
      async queues(i) {
        const out = await ctl(i, ["list_queues", "-p", vhost, "-q", "--formatter", "json", "name", "type", "arguments", "members", "leader", "messages"]);
        return (JSON.parse(out) as Array<Record<string, unknown>>).map((q) => ({
          name: String(q.name),
          type: String(q.type),
          arguments: queueArguments(q.arguments),
          members: Array.isArray(q.members) ? (q.members as string[]) : [],
          leader: typeof q.leader === "string" ? q.leader : "",
          messages: Number(q.messages ?? 0),
        }));
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
