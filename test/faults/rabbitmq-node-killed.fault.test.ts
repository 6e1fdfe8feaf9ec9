// A 3-node RabbitMQ cluster (private: the machine's broker is never touched) loses, by SIGKILL, the
// node every client is connected to (the first of the `rabbitmq.url` list) and that leads every
// report queue, while real pilots run jobs. The report queues are quorum queues replicated on all
// three nodes: the two left elect new leaders, the pilots' publishers and the agents' consumers
// reconnect to the next URL of the list, and reports caught in flight are resent from the pilots'
// spools. Nothing may be lost or applied twice: every job finished once, one accounting record per
// run, counters equal to the records. Dead-lettering still works on the two nodes left.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportQueueArguments } from "../../agents/reports/index.ts";
import { expectAllFinished, quickTimings, startPilotStage, stopStageWithin, type PilotStage } from "../support/pilot-stage.ts";
import { startRabbitCluster, type PrivateRabbitCluster, type RabbitQueueInfo } from "../support/private-rabbit-cluster.ts";

const USER_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Broker Node Killed";
const SITE = "BROKER_NODE_KILLED";
// The property needs jobs run on both sides of the fault (asserted below), not 300 of them: those made the run twice as long.
const JOBS = 150;
const PILOTS = 3;

let cluster: PrivateRabbitCluster;
let stage: PilotStage;

beforeAll(async () => {
  cluster = await startRabbitCluster("nodekill");
  stage = await startPilotStage({
    label: "rmqnodekill",
    site: SITE,
    userDn: USER_DN,
    services: { rabbitmq: cluster.urlList },
    config: quickTimings(4),
  });
}, 240_000);

afterAll(async () => {
  await stopStageWithin(stage, "rmqnodekill");
  await cluster?.stop();
}, 60_000);

const spooled = (): number => {
  const dir = join(stage.workdir, ".report-spool");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".report.json")).length : 0;
};

/** The stage's report queues (and its dead-letter queue) as a live node reports them. */
async function reportQueues(node: number): Promise<Map<string, RabbitQueueInfo>> {
  const ours = new Set(Object.values(stage.loaded.names.rabbit.queues));
  return new Map((await cluster.queues(node)).filter((q) => ours.has(q.name)).map((q) => [q.name, q]));
}

/**
 * Through node `node`: a message in a quorum queue declared with the report queues' arguments is
 * rejected; resolves with how many copies the dead-letter queue then holds under its messageId.
 */
async function rejectAndFindDeadLetter(node: number, messageId: string): Promise<number> {
  const r = stage.loaded.names.rabbit;
  // A queue of its own: the report queues hold the pilots' reports ahead of this one.
  const probe = `${stage.loaded.names.namespace}.test.dlprobe`;
  const conn = await amqp.connect(cluster.nodes[node].url);
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(probe, { durable: true, arguments: reportQueueArguments(stage.loaded.names) });
    ch.sendToQueue(probe, Buffer.from("not a report"), { persistent: true, messageId });
    await ch.waitForConfirms();
    let got: amqp.GetMessage | false = false;
    await expect.poll(async () => (got = await ch.get(probe, { noAck: false })) !== false, { timeout: 15_000, interval: 200 }).toBe(true);
    if (got === false) throw new Error("unreachable");
    ch.nack(got, false, false);
    let found = 0;
    await expect
      .poll(
        async () => {
          for (let m = await ch.get(r.queues.deadLetter, { noAck: true }); m !== false; m = await ch.get(r.queues.deadLetter, { noAck: true })) {
            if (m.properties.messageId === messageId) found++;
          }
          return found;
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBeGreaterThan(0);
    await ch.deleteQueue(probe);
    return found;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe("RabbitMQ cluster of 3, the node every client uses killed mid-run", () => {
  it("declares the report queues as quorum queues on all 3 nodes, reject-publish, dead letters at-least-once", async () => {
    const names = stage.loaded.names.rabbit;
    const queues = await reportQueues(0);
    const allNodes = cluster.nodes.map((n) => n.name).sort();
    expect([...queues.keys()].sort()).toEqual(Object.values(names.queues).sort());
    for (const q of queues.values()) {
      expect({ name: q.name, type: q.type, members: [...q.members].sort() }).toEqual({ name: q.name, type: "quorum", members: allNodes });
      if (q.name === names.queues.deadLetter) continue;
      expect(q.arguments).toMatchObject({ "x-queue-type": "quorum", "x-overflow": "reject-publish", "x-dead-letter-strategy": "at-least-once", "x-dead-letter-exchange": names.deadLetterExchange });
    }
  }, 60_000);

  it("loses no report and applies none twice; the clients move to the next URL of the list", async () => {
    const names = stage.loaded.names.rabbit;
    // Every client took the first URL, and the agents declared the queues there: the node to kill
    // holds the connections and, by RabbitMQ's client-local leader placement, every queue's leader.
    const first = cluster.nodes[0].name;
    const leaders = [...(await reportQueues(0)).values()].map((q) => q.leader);
    expect(new Set(leaders)).toEqual(new Set([first]));

    const taskId = `t${randomBytes(4).toString("hex")}`;
    await stage.enqueueMany(stage.shellJobs({ taskId, name: "rmqnodekill", count: JOBS, script: 'sleep 0.2; echo "$WMS_JOB_ID $WMS_ATTEMPT $WMS_PILOT_ID" >> "$LOG"; echo ok > "$WMS_OUTPUT_DIR/out.txt"' }));
    for (let i = 0; i < PILOTS; i++) await stage.spawnPilot(`pilot-${i}`);

    await expect.poll(() => stage.executions().size, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(JOBS / 5);
    await cluster.nodes[0].kill();
    const ranAtKill = stage.executions().size;
    expect(ranAtKill, "jobs must still be waiting when the node dies").toBeLessThan(JOBS * 0.8);

    // The two nodes left elect new leaders for every queue.
    await expect
      .poll(async () => [...(await reportQueues(1)).values()].filter((q) => q.leader === first || q.leader === "").map((q) => q.name), { timeout: 60_000, interval: 1000 })
      .toEqual([]);

    // The run took 199 s of a 300 s limit in a loaded fresh-clone CI run: room to finish, which only a
    // broken run uses up.
    const tally = await stage.tally(taskId, JOBS, 300_000);
    expectAllFinished(tally, JOBS);
    // Jobs kept finishing after the kill, so reports went through the other nodes; nothing is left unsent.
    expect(ranAtKill).toBeLessThan(JOBS);
    await expect.poll(spooled, { timeout: 30_000, interval: 200 }).toBe(0);
    expect(cluster.nodes[0].alive()).toBe(false);

    // A message rejected from a quorum queue on a survivor reaches the dead-letter queue (the broker's own dead-lettering).
    expect(await rejectAndFindDeadLetter(2, `dl-${randomBytes(4).toString("hex")}`)).toBeGreaterThanOrEqual(1);
    // The dead letter queue's and the report queues' replicas on the dead node are still members.
    const after = await reportQueues(1);
    expect([...after.values()].every((q) => q.members.includes(first))).toBe(true);
    expect(after.get(names.queues.jobState)?.type).toBe("quorum");
  }, 600_000);
});
