// The matchmaker bench's second reference: the design's wiring (NATS request, site-shard claim) and nothing else. Each
// advert request over NATS is answered with the next job of the pilot's site, claimed through the
// jobs port (the site shard's claim script and the record's move to `sent`, the same calls the
// matchmaker makes), as plain JSON. No schema check, token, ClassAd, ranking, one-time key,
// encryption or signature. The same simulated pilots drive it and complete each job as they do
// against the matchmaker, so `plumbingFloorPerSec / baselineJobsPerSec` is the best ratio any
// matchmaker on this design can reach on this machine. Forked by bench/suites/matchmaker.ts; says
// "ready" over IPC once subscribed.
import { loadConfig } from "../platform/config.ts";
import { openNats, openRedis } from "../platform/connections.ts";
import { DispatchQueues, type ClaimedJob } from "../jobs/index.ts";
import { SCHEMA_VERSION } from "../schemas/index.ts";

const namespace = process.argv[2];
if (!namespace) throw new Error("usage: plumbing-floor.ts NAMESPACE");
const { config, names } = loadConfig({ overrides: { namespace } });
const nc = await openNats(config, "bench-plumbing-floor");
const redis = openRedis(config);
const dq = new DispatchQueues({ redis, names, lockMs: 600_000, stalledIntervalMs: 600_000 });

// Each site's autoclusters, looked up once (the index read is not what is measured); an empty one
// is left out from then on, as the matchmaker does.
const sites = new Map<string, string[]>();
async function claim(site: string): Promise<ClaimedJob | undefined> {
  let acs = sites.get(site);
  if (!acs) sites.set(site, (acs = Object.keys(await dq.autoclusters(site)).sort()));
  const claimed = await dq.claim(site, acs, "plumbing-floor");
  const upto = claimed ? acs.indexOf(claimed.autocluster) : acs.length;
  acs.splice(0, upto);
  return claimed;
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
      const body = JSON.stringify({ job: claimed.spec, lockToken: claimed.lockToken });
      msg.respond(encoder.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, status: "match", envelope: { body } })));
    })().catch((e: Error) => msg.respond(encoder.encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, status: "error", code: 1000, name: "INTERNAL", message: e.message }))));
  }
})();
await nc.flush();
process.send?.("ready");
process.on("SIGTERM", () => {
  sub.unsubscribe();
  void dq
    .close()
    .then(() => nc.close())
    .finally(() => {
      redis.disconnect();
      process.exit(0);
    });
});
