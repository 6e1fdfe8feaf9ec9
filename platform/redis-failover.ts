// Carrying every command through a Redis Cluster failover, in one place: the Cluster client that
// openRedis gives (connections.ts). A node refuses a command it will not run with MOVED, ASK,
// TRYAGAIN or CLUSTERDOWN: the slot is served elsewhere, or by nobody until a replica is promoted;
// a command for the dead master fails with "Connection is closed." until the client's slot map
// names its replica. A failover takes the cluster's node timeout plus an election (15 s or more
// with Redis's defaults), and ioredis gives up after 16 redirections 100 ms apart, so commands of
// every kind failed right after a master died (test/cluster/failover.heavy.test.ts). Two layers,
// one budget (FAILOVER_BUDGET_MS from a command's first send):
// - ioredis's own redirection handling, given delays and enough redirections for the budget
//   (`failoverClusterOptions`): it covers lone commands, transactions (sent again whole) and
//   pipelines whose commands all failed alike. It also resends a command whose connection closed,
//   as ioredis always does; only one in flight when the master died can have run already.
// - for a pipeline's commands refused differently (every auto-pipelined command is sent in a
//   pipeline per node; commands for several slots of the dead master's each get their own MOVED,
//   and ioredis then passes each refusal to its caller: a heartbeat answered "MOVED 9543 ..." and
//   its pilot gave up the job), a command refused with MOVED, ASK, TRYAGAIN, CLUSTERDOWN (or
//   READONLY, LOADING: a stale map naming a restarted node) is sent again alone after a slot-map
//   refresh. A refusal means it did not run: never applied twice. One the budget could not carry
//   reaches its caller as such, which the error registry reads as an outage (E1003, retryable).
// - an auto-pipeline waits while the previous one to its node is out, filled by the slot map of the
//   moment each command was issued; if the map changes meanwhile (a failover), ioredis refuses the
//   whole pipeline at exec, before writing anything, with "All keys in the pipeline should belong to
//   the same slots allocation group", and each command's caller got that error (seen: 39 of 32,064
//   commands failed in the heavy failover test). Such a pipeline's commands are sent alone instead.
import type { ChainableCommander, Cluster, ClusterOptions, Command } from "ioredis";
import { redisRefusal } from "../schemas/index.ts";

/** How long a command may wait for its slot to be served again: the default cluster-node-timeout (15 s) and an election. */
export const FAILOVER_BUDGET_MS = 20_000;
/** Between two tries of a refused command. */
export const FAILOVER_RETRY_MS = 200;

/** ioredis's redirection handling, stretched over the budget: MOVED is followed at once, the rest waits FAILOVER_RETRY_MS. */
export function failoverClusterOptions(): Pick<ClusterOptions, "retryDelayOnFailover" | "retryDelayOnClusterDown" | "retryDelayOnTryAgain" | "maxRedirections"> {
  return {
    retryDelayOnFailover: FAILOVER_RETRY_MS,
    retryDelayOnClusterDown: FAILOVER_RETRY_MS,
    retryDelayOnTryAgain: FAILOVER_RETRY_MS,
    // A dead master's command alternates MOVED (no wait) and a closed connection (a wait).
    maxRedirections: 2 * Math.ceil(FAILOVER_BUDGET_MS / FAILOVER_RETRY_MS),
  };
}

/**
 * Refusals by which a Redis Cluster node says it did not run the command (the registry's reading of
 * them, redisRefusal, is also what makes them a retryable E1003 for a user); ioredis gives up on them
 * with "Too many Cluster redirections. Last error: ReplyError: MOVED ...", which is one too. READONLY
 * and LOADING too: a killed master restarted as its successor's replica, still in a stale slot map.
 */
export function notRunOnCluster(e: unknown): boolean {
  return redisRefusal(e) !== undefined;
}

type ClusterClass = typeof import("ioredis").Cluster;

/** A command's retry state: the promise our wrapper sits under (ioredis makes a new one when a pipeline resends) and when to give up. */
interface Guard {
  readonly promise: Promise<unknown>;
  readonly deadline: number;
}

const guards = new WeakMap<Command, Guard>();

/** Wraps the command's reject (under ioredis's own redirection handling) so a not-run refusal sends it again. */
function guard(cluster: Cluster, command: Command, send: (c: Command) => void): void {
  if (command.inTransaction || command.ignore || command.name === "exec" || command.name === "multi") return;
  const g = guards.get(command);
  if (g && g.promise === command.promise) return;
  const deadline = g?.deadline ?? Date.now() + FAILOVER_BUDGET_MS;
  guards.set(command, { promise: command.promise, deadline });
  const reject = command.reject;
  command.reject = (err: Error): void => {
    if (!notRunOnCluster(err) || Date.now() + FAILOVER_RETRY_MS > deadline || cluster.status === "end") return reject(err);
    cluster.refreshSlotsCache();
    setTimeout(() => send(command), FAILOVER_RETRY_MS);
  };
}

/** ioredis's refusal of a pipeline whose keys its current slot map puts on several nodes: nothing was sent. */
const SPLIT_PIPELINE = "All keys in the pipeline should belong to the same slots allocation group";

/** What of ioredis's Pipeline the fallback below uses (its queue and a command's promise reset are private in its types). */
interface PipelineInternals {
  _queue: Command[];
  exec(callback?: (err: Error | null, results?: unknown) => void): Promise<unknown>;
}
interface CommandInternals {
  initPromise(): void;
}

/**
 * `pipeline` refused as a whole for spanning nodes (SPLIT_PIPELINE): each of its commands sent
 * alone, routed by its own slot and guarded as any other, answered in the pipeline's [error, reply] form.
 */
function execSplit(cluster: Cluster, pipeline: PipelineInternals): Promise<Array<[Error | null, unknown?]>> {
  return Promise.all(
    pipeline._queue.map((command) => {
      // A fresh promise: the old one is wired to the refused pipeline's result bookkeeping.
      (command as unknown as CommandInternals).initPromise();
      void cluster.sendCommand(command);
      return command.promise.then(
        (reply): [null, unknown] => [null, reply],
        (err: Error): [Error] => [err],
      );
    }),
  );
}

let failoverCluster: ClusterClass | undefined;

/** ioredis's Cluster, sending a command refused during a failover again (see above). */
export function failoverClusterClass(base: ClusterClass): ClusterClass {
  failoverCluster ??= class FailoverCluster extends base {
    override sendCommand(command: Command, stream?: Parameters<Cluster["sendCommand"]>[1], node?: unknown): unknown {
      // Sent again alone: no pipeline stream, routed by the command's own slot.
      guard(this, command, (c) => void this.sendCommand(c));
      return super.sendCommand(command, stream, node);
    }

    override pipeline(commands?: unknown[][]): ChainableCommander {
      const pipeline = super.pipeline(commands);
      const internals = pipeline as unknown as PipelineInternals;
      const exec = internals.exec;
      let first: Promise<unknown> | undefined;
      internals.exec = (callback) => {
        // Later calls are ioredis's own resends of this pipeline, which settle the first call's promise.
        if (first) return exec.call(internals);
        first = exec.call(internals).catch((e: unknown) => {
          if (!(e instanceof Error) || e.message !== SPLIT_PIPELINE || this.status === "end") throw e;
          return execSplit(this, internals);
        });
        if (callback) first.then((results) => callback(null, results), (err: Error) => callback(err));
        return first;
      };
      return pipeline;
    }
  };
  return failoverCluster;
}
