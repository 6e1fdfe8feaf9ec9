// The matchmaker bench's second reference: the wiring the issue prescribes and nothing else. Each
// advert request over NATS is answered with the next job of the pilot's site, claimed in BullMQ
// (moveToActive, the same call the matchmaker makes), as plain JSON. No schema check, token, ClassAd,
// ranking, JobStore transition, one-time key, encryption or signature. The same simulated pilots
// drive it and complete each job as they do against the matchmaker, so
// `plumbingFloorPerSec / baselineJobsPerSec` is the best ratio any matchmaker on this design can
// reach on this machine. Forked by bench/suites/matchmaker.ts; says "ready" over IPC once subscribed.
import type { Job } from "bullmq";
import { Worker } from "bullmq";
import { loadConfig } from "../platform/config.ts";
import { openNats, openRedis } from "../platform/connections.ts";
import { DispatchQueues, makeLockToken } from "../jobs/index.ts";
import { SCHEMA_VERSION, type JobSpec } from "../schemas/index.ts";

const namespace = process.argv[2];
if (!namespace) throw new Error("usage: plumbing-floor.ts NAMESPACE");
const { config, names } = loadConfig({ overrides: { namespace } });
const nc = await openNats(config, "bench-plumbing-floor");
const redis = openRedis(config);
const bull = openRedis(config, { forBullMq: true, pipelined: true });
const dq = new DispatchQueues({ connection: bull, redis, names, lockMs: 600_000, stalledIntervalMs: 600_000 });

// Each site's queues, looked up once (the index read is not what is measured); an empty queue is
// left for the next, as the matchmaker does.
const sites = new Map<string, Array<{ w: Worker; ac: string }>>();
async function queuesOf(site: string): Promise<Array<{ w: Worker; ac: string }>> {
  let x = sites.get(site);
  if (!x) {
    const acs = Object.keys(await dq.autoclusters(site)).sort();
    x = acs.map((ac) => ({ w: new Worker(names.siteQueue(site, ac), null, { connection: bull, prefix: names.bullPrefix, autorun: false, lockDuration: 600_000, skipVersionCheck: true }), ac }));
    sites.set(site, x);
  }
  return x;
}

async function claim(site: string): Promise<{ job: Job<JobSpec>; lockToken: string } | undefined> {
  const qs = await queuesOf(site);
  while (qs.length > 0) {
    const lockToken = makeLockToken(site, qs[0].ac);
    const job = (await qs[0].w.getNextJob(lockToken, { block: false })) as Job<JobSpec> | undefined;
    if (job) return { job, lockToken };
    qs.shift();
  }
  return undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const nomatch = encoder.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, status: "nomatch", backoffSec: 1, reason: "empty" }));
const sub = nc.subscribe(names.subjects.advert, { queue: names.queueGroups.matchmaker });
void (async () => {
  for await (const msg of sub) {
    void (async () => {
      const { site } = JSON.parse(decoder.decode(msg.data)) as { site: string };
      const claimed = await claim(site);
      if (!claimed) return msg.respond(nomatch);
      const body = JSON.stringify({ job: claimed.job.data, lockToken: claimed.lockToken });
      msg.respond(encoder.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, status: "match", envelope: { body } })));
    })().catch((e: Error) => msg.respond(encoder.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, status: "error", code: 1000, name: "INTERNAL", message: e.message }))));
  }
})();
await nc.flush();
process.send?.("ready");
process.on("SIGTERM", () => {
  sub.unsubscribe();
  void Promise.all([...sites.values()].flat().map((x) => x.w.close()))
    .then(() => dq.close())
    .then(() => nc.close())
    .finally(() => {
      redis.disconnect();
      bull.disconnect();
      process.exit(0);
    });
});
