// A whole task on all three clusters at once, from the installed servers on private ports: a Redis
// Cluster of 6 nodes (3 masters, 3 replicas), a 3-node NATS cluster with JetStream, and a 3-node
// RabbitMQ cluster whose report queues are quorum queues replicated on every node. 1,000 jobs over
// 20 sites go through two `wms matchmaker` processes, each connected to a different NATS node, to
// real `wms pilot` processes (the pilot stage). The pilots publish their reports through RabbitMQ
// node 2 (their `rabbitmq.url` list starts there) and the agents consume them through node 1, where
// the queues were declared and have their leaders. Every payload appends one line per execution, so
// "finished exactly once" is read from the execution log, not from the records alone. The second run
// kills one Redis master with SIGKILL mid-task (its replica takes over), then RabbitMQ node 1 (the
// agents reconnect to the next URL of their list, the queues elect new leaders on the two nodes
// left): nothing is lost or run twice, and every report was consumed.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dataNodes } from "../../platform/redis-client.ts";
import { startPilotStage, type PilotStage, type StageTally } from "../support/pilot-stage.ts";
import { startNatsCluster, startRedisCluster, type PrivateNatsCluster, type PrivateRedisCluster } from "../support/private-clusters.ts";
import { startRabbitCluster, type PrivateRabbitCluster, type RabbitQueueInfo } from "../support/private-rabbit-cluster.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Cluster Task";
const SITES = Array.from({ length: 20 }, (_, i) => `CL_${String(i).padStart(2, "0")}`);
// 1,000 (50 a site): the second run's kills still land mid-task (asserted), after 250 and 500 payloads;
// 2,000 took 9 of a fresh-clone CI run's 35 min for the same properties.
// The whole task at the size scale-out is asked to carry (2,000 jobs); the failover run at half of it,
// which still has jobs waiting when each kill lands (asserted) and keeps the file's time in CI down.
const TASK_JOBS = 2000;
const FAILOVER_JOBS = 1000;
const PILOTS_PER_SITE = 2;
// Short leases so that a claim whose reply died with a master comes back within the run.
const JOB_TIMINGS = { heartbeatSec: 1, leaseSec: 8, leaseCheckSec: 1 };

let redisCluster: PrivateRedisCluster | undefined;
let natsCluster: PrivateNatsCluster | undefined;
let rabbitCluster: PrivateRabbitCluster | undefined;

beforeAll(async () => {
  // In parallel: RabbitMQ's 25-30 s dominate.
  [redisCluster, natsCluster, rabbitCluster] = await Promise.all([startRedisCluster("task"), startNatsCluster("task", { jetStream: true }), startRabbitCluster("task")]);
}, 240_000);

afterAll(async () => {
  await Promise.all([redisCluster?.stop(), natsCluster?.stop(), rabbitCluster?.stop()]);
}, 60_000);

async function stageOnClusters(label: string): Promise<PilotStage> {
  const stage = await startPilotStage({
    label,
    site: SITES[0],
    extraSites: SITES.slice(1),
    userDn: USER_DN,
    matchmakerProcesses: 2,
    // A site whose jobs were all leased when the master died looks empty until the leases run out
    // (8 s, then requeued as attempt 2): its pilots must not leave meanwhile, as a factory's would not.
    pilotMaxEmpty: 300,
    services: {
      nats: natsCluster!.serverList,
      redisCluster: redisCluster!.nodes,
      matchmakerNats: [natsCluster!.urls[0], natsCluster!.urls[1]],
      // Everyone but the pilots on node 1 first; the pilots on node 2 first. Each fails over along its list.
      rabbitmq: rabbitCluster!.urlList,
      pilotRabbitmq: [1, 2, 0].map((i) => rabbitCluster!.urlList.split(",")[i]).join(","),
    },
    config: { jobs: JOB_TIMINGS, matchmaker: { nomatchBackoffSec: 0.2 } },
  });
  await stage.matchmakerAnswers(60_000);
  return stage;
}

/** Queues the task over the 20 sites and starts the pilots, a site's pilots together. */
async function runTask(stage: PilotStage, name: string, jobs: number): Promise<string> {
  const taskId = `t${randomBytes(4).toString("hex")}`;
  await stage.enqueueMany(stage.shellJobs({ taskId, name, count: jobs, sites: SITES, script: 'echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"' }));
  for (const site of SITES) for (let p = 0; p < PILOTS_PER_SITE; p++) await stage.spawnPilot(`${site}-p${p}`, site);
  return taskId;
}

/**
 * Every job finished once. With `lostCounterWrites`, the state counters may be off where the dead
 * master had acknowledged an increment its replica never received (replication is asynchronous):
 * a reconciliation's counter repairs are allowed then, and the counters are read from the records.
 */
function expectExactlyOnce(tally: StageTally, jobs: number, o: { lostCounterWrites?: boolean } = {}): void {
  const counterRepair = (r: unknown): boolean => o.lostCounterWrites === true && /-count$/.test(String((r as { kind?: unknown }).kind));
  expect(tally.repairs.filter((r) => !counterRepair(r))).toEqual([]);
  expect(tally).toEqual({
    notFinished: [],
    ran: jobs,
    ranTwice: [],
    retried: tally.retried,
    taskCounts: o.lostCounterWrites ? tally.taskCounts : { finished: jobs },
    siteCounts: o.lostCounterWrites ? tally.siteCounts : { finished: jobs },
    taskStatus: "done",
    waiting: 0,
    accounted: jobs,
    repairs: tally.repairs,
  });
}

/**
 * What the payloads logged against the records: each job's execution log holds exactly one line
 * (`$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID`), from the attempt and pilot its record finished with.
 * A retried job's earlier attempts (lost with the master, or whose lease ran out meanwhile) then
 * never started their payload, and the run that counted is the one the store holds: a late report
 * of an ended attempt applied past its fence, or a claim handed out twice from a promoted replica,
 * shows here even where the counts agree. Returns the retried jobs as `<jobId> <how each earlier
 * attempt ended> -> <attempt that ran>`.
 */
async function expectEachRunOnceAsRecorded(stage: PilotStage, taskId: string, jobs: number): Promise<string[]> {
  const logged = new Map<string, string[]>();
  for (const line of readFileSync(stage.executionLog, "utf8").split("\n")) {
    const [jobId, attempt, pilot] = line.split(" ");
    if (jobId) logged.set(jobId, [...(logged.get(jobId) ?? []), `${attempt}:${pilot}`]);
  }
  const records = await stage.store.listJobs(taskId);
  expect(records).toHaveLength(jobs);
  const wrong = records.filter((r) => logged.get(r.jobId)?.join(" ") !== `${r.attempt}:${r.pilotId}`);
  expect(wrong.map((r) => `${r.jobId} ${r.state} recorded ${r.attempt}:${r.pilotId}, logged ${logged.get(r.jobId)?.join(" ") ?? "nothing"}`)).toEqual([]);
  const ids = new Set(records.map((r) => r.jobId));
  expect([...logged.keys()].filter((id) => !ids.has(id))).toEqual([]);
  return Promise.all(
    records
      .filter((r) => r.attempt > 1)
      .map(async (r) => `${r.jobId} ${(await stage.store.attempts(r.jobId)).map((a) => `${a.attempt}:${a.state}:${a.ended}:${a.errorCode} (${a.message})`).join(" ")} -> ${r.attempt}`),
  );
}

/** The stage's report queues (not the dead-letter queue) as RabbitMQ node `node` lists them. */
async function reportQueues(stage: PilotStage, node: number): Promise<RabbitQueueInfo[]> {
  const q = stage.loaded.names.rabbit.queues;
  const ours = new Set(Object.entries(q).filter(([k]) => k !== "deadLetter").map(([, name]) => name));
  return (await rabbitCluster!.queues(node)).filter((x) => ours.has(x.name));
}

/** Messages left in the queues the stage's agents consume (job state, accounting); the others have no consumer here. */
function unconsumed(stage: PilotStage, queues: readonly RabbitQueueInfo[]): number {
  const { jobState, accounting } = stage.loaded.names.rabbit.queues;
  return queues.filter((x) => x.name === jobState || x.name === accounting).reduce((n, x) => n + x.messages, 0);
}

/** Keys of the namespace on each master now (SCAN per master; other runs' keys are not counted). */
async function keysPerMaster(stage: PilotStage): Promise<number[]> {
  const pattern = `${stage.loaded.names.redisPrefix}*`;
  return Promise.all(
    (await dataNodes(stage.redis)).map(async (node) => {
      let n = 0;
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== "0");
      return n;
    }),
  );
}

describe("a 2,000-job task over 20 sites on a Redis Cluster, a NATS cluster and a RabbitMQ cluster", () => {
  it("finishes every job exactly once through two matchmakers on different NATS nodes, with keys on all three masters within 2x of the average", async () => {
    const stage = await stageOnClusters("cltask");
    try {
      const t0 = Date.now();
      const taskId = await runTask(stage, "cltask", TASK_JOBS);
      const tally = await stage.tally(taskId, TASK_JOBS, 360_000);
      const wallSec = (Date.now() - t0) / 1000;
      const perMaster = await keysPerMaster(stage);
      console.log(`cluster task: ${TASK_JOBS} jobs in ${wallSec.toFixed(1)} s (${(TASK_JOBS / wallSec).toFixed(1)} jobs/s), keys per master ${perMaster.join(" / ")}, retried ${tally.retried.length}`);
      // A second attempt only where the first one's credential request timed out (E1006) before its
      // payload ran: 40 pilots start at once and the credential cache in this process makes a proxy
      // key for each, which at a load of 30 took longer than the 10 s request timeout for 53 of them.
      // The execution log (ranTwice) says no payload ran twice.
      expect(tally.retried.filter((r) => !/^\S+ 1:[^ ]+:reported:1006$/.test(r))).toEqual([]);
      expectExactlyOnce(tally, TASK_JOBS);
      await expectEachRunOnceAsRecorded(stage, taskId, TASK_JOBS);
      // Every report queue is a quorum queue on all three nodes, led from the agents' node; the consumed ones are empty.
      const queues = await reportQueues(stage, 1);
      expect(queues).toHaveLength(Object.keys(stage.loaded.names.rabbit.queues).length - 1);
      expect(queues.map((x) => ({ type: x.type, members: x.members.length, leader: x.leader }))).toEqual(queues.map(() => ({ type: "quorum", members: 3, leader: rabbitCluster!.nodes[0].name })));
      await expect.poll(async () => unconsumed(stage, await reportQueues(stage, 1)), { timeout: 20_000, interval: 1000 }).toBe(0);
      expect(perMaster).toHaveLength(3);
      const avg = perMaster.reduce((a, b) => a + b, 0) / perMaster.length;
      for (const n of perMaster) {
        expect(n, `keys per master ${perMaster.join(" / ")}`).toBeLessThanOrEqual(2 * avg);
        expect(n, `keys per master ${perMaster.join(" / ")}`).toBeGreaterThanOrEqual(avg / 2);
      }
    } finally {
      await stage.stop();
    }
  }, 600_000);

  it("loses no job or report and runs none twice when a Redis master is killed mid-task (its replica takes over), then the RabbitMQ node the agents consume from", async () => {
    const stage = await stageOnClusters("clfail");
    try {
      const t0 = Date.now();
      const taskId = await runTask(stage, "clfail", FAILOVER_JOBS);
      // Bounded generously: at a load of 32 on 2 cores 498 payloads had run after 120 s.
      await expect.poll(() => stage.executions().size, { timeout: 300_000, interval: 200 }).toBeGreaterThanOrEqual(FAILOVER_JOBS / 4);
      const before = await redisCluster!.masters();
      const victim = before[0];
      await redisCluster!.servers.find((s) => s.port === victim)!.kill();
      const killedAt = stage.executions().size;
      await expect.poll(async () => (await redisCluster!.masters()).filter((p) => p !== victim).length, { timeout: 30_000, interval: 250 }).toBe(3);
      // Then the broker node the agents consume from and every report queue is led from.
      await expect.poll(() => stage.executions().size, { timeout: 300_000, interval: 200 }).toBeGreaterThanOrEqual(FAILOVER_JOBS / 2);
      await rabbitCluster!.nodes[0].kill();
      const brokerKilledAt = stage.executions().size;
      const tally = await stage.tally(taskId, FAILOVER_JOBS, 600_000);
      console.log(
        `cluster failover (${((Date.now() - t0) / 1000).toFixed(0)} s): master ${victim} killed after ${killedAt} of ${FAILOVER_JOBS} payloads, RabbitMQ node 1 after ${brokerKilledAt}; retried ${tally.retried.length}: ${tally.retried.slice(0, 5).join(", ")}; counter repairs ${JSON.stringify(tally.repairs)}`,
      );
      expect(killedAt, "jobs must still be waiting when the master dies").toBeLessThan(FAILOVER_JOBS);
      expect(brokerKilledAt, "jobs must still be waiting when the broker node dies").toBeLessThan(FAILOVER_JOBS);
      expectExactlyOnce(tally, FAILOVER_JOBS, { lostCounterWrites: true });
      // The retried jobs too, those whose attempt the kill interrupted among them: each ran once, as
      // its final attempt, and every earlier attempt ended without finishing.
      const retried = await expectEachRunOnceAsRecorded(stage, taskId, FAILOVER_JOBS);
      console.log(`retried after the kills: ${retried.length} (${retried.filter((r) => / \S+:lost:/.test(r)).length} with a lease that ran out): ${retried.slice(0, 5).join(", ")}`);
      expect(retried.filter((r) => / \d+:finished:/.test(r))).toEqual([]);
      // A master going away is an outage the services answer as one (E1003, asked again by the
      // pilot), never INTERNAL (E1000), which says "a bug": no attempt may end with it.
      expect(retried.filter((r) => / \d+:\w+:\w+:1000 /.test(r))).toEqual([]);
      // The queues live on, led from a node left, every report consumed.
      const queues = await reportQueues(stage, 1);
      expect(queues.map((x) => x.leader).filter((l) => l === rabbitCluster!.nodes[0].name || l === "")).toEqual([]);
      await expect.poll(async () => unconsumed(stage, await reportQueues(stage, 1)), { timeout: 20_000, interval: 1000 }).toBe(0);
    } finally {
      await stage.stop();
    }
  }, 1_300_000);
});
