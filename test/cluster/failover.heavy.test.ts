// Redis Cluster failover, on a private 6-node cluster (3 masters, 3 replicas, from the installed
// redis-server): what a claim costs when it waits for a replica (WAIT 1 on each master it wrote to,
// `redis.cluster.claimReplicaWaitMs`), that it waits on the right masters, and that plain commands,
// pipelines and scripts sent through openRedis's Cluster client all come through a master's death
// (MOVED and CLUSTERDOWN refusals sent again), where ioredis's own client lets some of them fail.
// Every client connects as the matchmaker (the role that claims); what only an operator may run
// (CLUSTER NODES, CLUSTER KEYSLOT) goes through the cluster's own admin user (adminCall).
import { loadavg } from "node:os";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DispatchQueues, JobStore, jobKeys } from "../../jobs/index.ts";
import { loadConfig } from "../../platform/config.ts";
import { openRedis, redisConnectOptions } from "../../platform/connections.ts";
import { keySlot } from "../../platform/redis-client.ts";
import { redisScript } from "../../platform/redis-script.ts";
import { wireNames, type JobSpec, type WireNames, type WmsConfig } from "../../schemas/index.ts";
import { makeSpec } from "../matchmaker/fixtures.ts";
import { uniqueNamespace } from "../support/namespace.ts";
import { startRedisCluster, type PrivateRedisCluster } from "../support/private-clusters.ts";
import { asRole } from "../support/test-roles.ts";

const SITES = Array.from({ length: 12 }, (_, i) => `FO_${i}`);
const WAIT_MS = 400;

let cluster: PrivateRedisCluster | undefined;
let config: WmsConfig;
let redis: Cluster;
const names: WireNames = wireNames(uniqueNamespace("failovercl"));
const keys = jobKeys(names);

beforeAll(async () => {
  cluster = await startRedisCluster("failover");
  const base = asRole(loadConfig({ env: {} }), "matchmaker").config;
  config = { ...base, redis: { ...base.redis, cluster: { nodes: [...cluster.nodes], claimReplicaWaitMs: WAIT_MS } } };
  redis = openRedis(config) as Cluster;
}, 180_000);

afterAll(async () => {
  // The keys go with the private cluster's folders: deleting them first, on a cluster whose master
  // this file killed, waits out the client's 20 s re-send budget per command and could outlast the
  // hook, leaving six redis-servers running.
  redis?.disconnect();
  await cluster?.stop();
}, 60_000);

/** Port of the master serving `key`'s slot, and of its replica, from CLUSTER NODES. */
async function masterAndReplica(key: string): Promise<{ master: number; replica: number }> {
  const text = (await cluster!.adminCall(cluster!.servers[0].port, "CLUSTER", "NODES")) as string;
  const rows = text.trim().split("\n").map((l) => l.split(" "));
  const slot = keySlot(key);
  const owner = rows.find((f) => f[2].includes("master") && f.slice(8).some((r) => {
    const [a, b] = r.split("-").map(Number);
    return slot >= a && slot <= (b ?? a);
  }))!;
  const replica = rows.find((f) => f[3] === owner[0])!;
  const port = (f: string[]): number => Number(/:(\d+)@/.exec(f[1])![1]);
  return { master: port(owner), replica: port(replica) };
}

/** A connection to one node that reads as a replica (READONLY), for what it holds now. */
async function replicaReader(port: number): Promise<Redis> {
  const { Redis: Client } = await import("ioredis");
  const r = new Client({ port, host: "127.0.0.1", ...redisConnectOptions(config.redis), maxRetriesPerRequest: 1 });
  await r.call("READONLY");
  return r;
}

async function queueJobs(taskId: string, perSite: number, sites: readonly string[] = SITES): Promise<JobSpec[]> {
  const store = new JobStore(redis, names);
  const specs = Array.from({ length: perSite * sites.length }, (_, i) => makeSpec({ taskId, site: sites[i % sites.length], maxAttempts: 3 }, i));
  await store.createTask({ taskId, taskName: taskId, kind: "production", vo: "atlas", group: "", ownerDn: specs[0].userDn, priority: 0, maxAttempts: 3, outputDataset: `out.${taskId}` }, specs.map((spec) => ({ spec, state: "activated" as const })));
  return specs;
}

describe("claims on a Redis Cluster wait for a replica", () => {
  it("finds a key's slot as the cluster does", async () => {
    const sample = [...SITES.map((s) => keys.site(s).lease), keys.task("FOWAIT").task, "plain", "{}x", "a{b}c", "é{ü}"];
    const port = cluster!.servers[0].port;
    expect(sample.map((k) => keySlot(k))).toEqual(await Promise.all(sample.map(async (k) => Number(await cluster!.adminCall(port, "CLUSTER", "KEYSLOT", k)))));
  });

  it("measures what the WAIT adds per claim, and a waited claim's lease is on the replica when the claim returns", async () => {
    const plain = new DispatchQueues({ redis, names, lockMs: 600_000, stalledIntervalMs: 600_000 });
    const waiting = new DispatchQueues({ redis, names, lockMs: 600_000, stalledIntervalMs: 600_000, claimReplicaWaitMs: WAIT_MS });
    const WAVE = 24;
    const ROUNDS = 16;
    // Enough for every round: 2 waves over the 12 sites (4 claims a site) and 12 lone ones (2 a site for 6 sites).
    const specs = await queueJobs("FOWAIT", 6 * ROUNDS + 4);
    await plain.enqueue(specs);
    const acs = new Map<string, string[]>();
    for (const s of SITES) acs.set(s, Object.keys(await plain.autoclusters(s)));
    // The replica of each site shard's master, read right after each waited claim returns.
    const readers = new Map<number, Redis>();
    const replicaOf = new Map<string, Redis>();
    for (const s of SITES) {
      const { replica } = await masterAndReplica(keys.site(s).lease);
      if (!readers.has(replica)) readers.set(replica, await replicaReader(replica));
      replicaOf.set(s, readers.get(replica)!);
    }
    const missing: string[] = [];
    /** `WAVE` claims at once over the sites (as a matchmaker answers a wave of adverts); ms per claim. */
    const wave = async (dq: DispatchQueues, check: boolean): Promise<number> => {
      const t0 = performance.now();
      const got = await Promise.all(
        Array.from({ length: WAVE }, async (_, i) => {
          const site = SITES[i % SITES.length];
          const c = await dq.claim(site, acs.get(site)!, `p${i}`);
          if (c && check) {
            const on = await replicaOf.get(site)!.zscore(keys.site(site).lease, c.spec.jobId);
            if (on === null) missing.push(c.spec.jobId);
          }
          return c;
        }),
      );
      const ms = performance.now() - t0;
      expect(got.every((c) => c !== undefined)).toBe(true);
      return ms / WAVE;
    };
    // Interleaved, so both see the same load: per round a wave and a few lone claims of each.
    const lone = async (dq: DispatchQueues, n: number): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) expect(await dq.claim(SITES[i % SITES.length], acs.get(SITES[i % SITES.length])!, `lone${i}`)).toBeDefined();
      return (performance.now() - t0) / n;
    };
    const times = { wavePlain: [] as number[], waveWaiting: [] as number[], lonePlain: [] as number[], loneWaiting: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      times.wavePlain.push(await wave(plain, false));
      times.waveWaiting.push(await wave(waiting, false));
      times.lonePlain.push(await lone(plain, 6));
      times.loneWaiting.push(await lone(waiting, 6));
    }
    const median = (xs: number[]): string => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(3);
    console.log(
      `claim ms per claim (medians of ${times.wavePlain.length} rounds, load ${loadavg()[0].toFixed(1)}): waves of ${WAVE} ${median(times.wavePlain)} without WAIT, ${median(times.waveWaiting)} with; one at a time ${median(times.lonePlain)} without, ${median(times.loneWaiting)} with`,
    );
    // Untimed: the replica read right after each claim returns.
    for (let r = 0; r < 2; r++) await wave(waiting, true);
    for (const r of readers.values()) r.disconnect();
    expect(missing).toEqual([]);
  }, 240_000);

  it("waits on the masters the claim wrote to: a frozen replica delays the claims that wrote to its master by claimReplicaWaitMs, not those at the same time on other masters, and they are still handed out", async () => {
    // Sites of its own. At the first test's sites that test leaves jobs of its task queued in the
    // same autocluster, ahead of these in FIFO order: a claim there takes one of them and waits on
    // the master of *that* task's shard. When it was the frozen replica's master, every claim at a
    // site "on other masters" took the whole WAIT (the failure once seen in some slot layouts): the
    // claims had written to the frozen replica's master, and waited as they must.
    const sites = Array.from({ length: 12 }, (_, i) => `FZ_${i}`);
    // Long, so that a claim that waits stands 10x above a loaded machine's claim (~100-300 ms at load 30).
    const waitMs = 4000;
    const waiting = new DispatchQueues({ redis, names, lockMs: 600_000, stalledIntervalMs: 600_000, claimReplicaWaitMs: waitMs });
    const taskId = "FOFROZEN";
    await waiting.enqueue(await queueJobs(taskId, 24, sites));
    const siteMaster = new Map<string, number>();
    for (const s of sites) siteMaster.set(s, (await masterAndReplica(keys.site(s).lease)).master);
    // The frozen replica's master holds a site shard but not the task's shard, so the claims at
    // sites on the two other masters write nothing there.
    const taskMaster = (await masterAndReplica(keys.task(taskId).task)).master;
    const frozenSite = sites.find((s) => siteMaster.get(s) !== taskMaster)!;
    const { master, replica } = await masterAndReplica(keys.site(frozenSite).lease);
    const others = sites.filter((s) => siteMaster.get(s) !== master);
    expect(others.length).toBeGreaterThan(0);
    const pid = cluster!.servers.find((s) => s.port === replica)!.pid!;
    /** ms for one claim at `site`, and the masters it wrote to (its site shard's, its own task shard's). */
    const timed = async (site: string): Promise<{ ms: number; masters: number[] }> => {
      const t0 = performance.now();
      const c = await waiting.claim(site, Object.keys(await waiting.autoclusters(site)), "frozen-test");
      const ms = performance.now() - t0;
      // Its own task, not a job left by another test (masterAndReplica asks a node that may be the frozen one).
      expect(c?.spec.taskId).toBe(taskId);
      return { ms, masters: [siteMaster.get(site)!, taskMaster] };
    };
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    process.kill(pid, "SIGSTOP");
    let frozen: { ms: number; masters: number[] };
    const otherMs: number[] = [];
    try {
      // A claim waiting on the frozen replica's master, and meanwhile claims at sites on the
      // others (as a matchmaker's wave mixes sites): they share the client, not its wait.
      const pending = timed(frozenSite);
      for (let i = 0; i < 9; i++) {
        const c = await timed(others[i % others.length]);
        expect(c.masters, "a claim at a site on other masters wrote to the frozen replica's master").not.toContain(master);
        otherMs.push(c.ms);
      }
      frozen = await pending;
    } finally {
      process.kill(pid, "SIGCONT");
    }
    console.log(`frozen replica: a claim at ${frozenSite} ${frozen.ms.toFixed(0)} ms; meanwhile 9 at sites on other masters, median ${median(otherMs).toFixed(1)} ms, slowest ${Math.max(...otherMs).toFixed(1)} ms (load ${loadavg()[0].toFixed(1)})`);
    expect(frozen.ms).toBeGreaterThanOrEqual(waitMs - 5);
    expect(median(otherMs), "the median claim at a site on other masters while a replica is frozen").toBeLessThan(waitMs / 10);
    // Thawed, the replica acknowledges again: some claim at its master's site comes well under the
    // wait within 20 s (one has been seen to take seconds in the fresh-clone CI); a replica that
    // never acknowledged again would make every one of them take the whole wait.
    let best = Infinity;
    const until = performance.now() + 20_000;
    while (best >= waitMs / 2 && performance.now() < until) best = Math.min(best, (await timed(frozenSite)).ms);
    expect(best, `a claim at ${frozenSite} once its master's replica is thawed`).toBeLessThan(waitMs / 2);
  }, 120_000);
});

describe("openRedis's Cluster client while a slot migrates", () => {
  it("answers every command, pipeline and script on the slot's keys while an operator reshards it, each applied once", async () => {
    // What `redis-cli --cluster reshard` does under a running task: keys of the slot move one by
    // one, a command for a key already moved is answered ASK, a script whose keys are split
    // between the two masters TRYAGAIN, and afterwards every node answers MOVED.
    const tag = `${names.redisPrefix}{reshard}`;
    const slot = keySlot(tag);
    const owner = (await masterAndReplica(tag)).master;
    const target = (await cluster!.masters()).find((p) => p !== owner)!;
    const two = redisScript("redis.call('INCR', KEYS[1]); return redis.call('INCR', KEYS[2])");
    const counters = Array.from({ length: 40 }, (_, i) => `${tag}:c${i}`);
    await Promise.all(counters.map((k) => redis.set(k, "0")));
    const ok = new Map<string, number>();
    const errors: string[] = [];
    const count = (k: string): void => void ok.set(k, (ok.get(k) ?? 0) + 1);
    let running = true;
    let rounds = 0;
    const loop = (async () => {
      while (running) {
        rounds++;
        await Promise.all(
          counters.flatMap((k, i) => {
            const other = counters[(i + 1) % counters.length];
            return [
              redis.incr(k).then(() => count(k)),
              two.run(redis, [k, other], []).then(() => (count(k), count(other))),
              redis.pipeline().incr(k).get(other).exec().then((rows) => rows?.forEach(([e], j) => (e ? errors.push(e.message) : j === 0 && count(k)))),
            ].map((p) => p.catch((e: Error) => void errors.push(e.message)));
          }),
        );
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let moved = 0;
    try {
      await new Promise((r) => setTimeout(r, 300));
      moved = await cluster!.moveSlot(slot, target, 15);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      running = false;
      await loop;
    }
    console.log(`reshard: slot ${slot} moved ${owner} -> ${target} (${moved} keys) under ${rounds} rounds; failed ${errors.length} ${JSON.stringify([...new Set(errors)].slice(0, 4))}`);
    expect(moved).toBeGreaterThanOrEqual(counters.length);
    expect((await masterAndReplica(tag)).master).toBe(target);
    expect(errors).toEqual([]);
    // Each increment the client reported done was applied exactly once: none lost, none sent twice.
    expect(Object.fromEntries(await Promise.all(counters.map(async (k) => [k, Number(await redis.get(k))])))).toEqual(Object.fromEntries(counters.map((k) => [k, ok.get(k) ?? 0])));
    await redis.del(...counters);
  }, 120_000);
});

describe("openRedis's Cluster client through a master's death", () => {
  it("answers a pipeline whose keys the slot map puts on several masters command by command, where ioredis refuses it whole", async () => {
    // What an auto-pipeline meets when a failover changes the slot map between the commands it
    // queued and its exec (39 of 32,064 commands failed so in a fresh-clone CI's run of the test below).
    const byMaster = new Map<number, string>();
    for (let i = 0; byMaster.size < 3 && i < 200; i++) {
      const key = `${names.redisPrefix}{split:${i}}`;
      const { master } = await masterAndReplica(key);
      if (!byMaster.has(master)) byMaster.set(master, key);
    }
    const spread = [...byMaster.values()];
    expect(spread).toHaveLength(3);
    await Promise.all(spread.map((k, i) => redis.set(k, `v${i}`)));
    const plainIoredis = new Cluster(
      cluster!.nodes.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) })),
      { redisOptions: redisConnectOptions(config.redis) },
    );
    try {
      await expect(spread.reduce((p, k) => p.get(k), plainIoredis.pipeline()).exec()).rejects.toThrow(/same slots allocation group/);
    } finally {
      plainIoredis.disconnect();
    }
    const rows = await spread.reduce((p, k) => p.get(k), redis.pipeline()).exec();
    expect(rows).toEqual(spread.map((_, i) => [null, `v${i}`]));
    // The callback form, as ioredis's auto-pipelining calls it.
    const viaCallback = await new Promise((resolve, reject) => {
      void spread.reduce((p, k) => p.get(k), redis.pipeline()).exec((err, res) => (err ? reject(err) : resolve(res)));
    });
    expect(viaCallback).toEqual(rows);
    await redis.del(...spread.slice(0, 1));
    await Promise.all(spread.slice(1).map((k) => redis.del(k)));
  });

  it("answers every plain command, pipeline and script sent while a master dies and its replica takes over", async () => {
    const plainIoredis = new Cluster(
      cluster!.nodes.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) })),
      { enableAutoPipelining: true, slotsRefreshInterval: 2000, redisOptions: { ...redisConnectOptions(config.redis), maxRetriesPerRequest: 3 } },
    );
    const incr = redisScript("return redis.call('INCR', KEYS[1])");
    const tags = Array.from({ length: 48 }, (_, i) => `${names.redisPrefix}{fo:${i}}`);
    const errors = { ours: [] as string[], ioredis: [] as string[] };
    let sent = 0;
    const load = (c: Cluster, into: string[]): Array<Promise<unknown>> =>
      tags.flatMap((t) => [
        c.hincrby(`${t}:h`, "n", 1),
        c.get(`${t}:s`),
        c.pipeline().set(`${t}:s`, "x").hget(`${t}:h`, "n").exec().then((rows) => rows?.forEach(([e]) => e && into.push(e.message))),
        incr.run(c, [`${t}:i`], []),
      ]).map((p) => p.catch((e: Error) => void into.push(e.message)));
    const pending: Array<Promise<unknown>> = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        pending.push(...load(redis, errors.ours), ...load(plainIoredis, errors.ioredis));
        sent += tags.length * 4;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const victim = (await cluster!.masters())[0];
      await cluster!.servers.find((s) => s.port === victim)!.kill();
      await expect.poll(async () => (await cluster!.masters()).filter((p) => p !== victim).length, { timeout: 30_000, interval: 250 }).toBe(3);
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      running = false;
      await loop;
    }
    await Promise.all(pending);
    plainIoredis.disconnect();
    const kinds = (xs: string[]): Record<string, number> => xs.reduce<Record<string, number>>((m, e) => ((m[e.split(" ")[0]] = (m[e.split(" ")[0]] ?? 0) + 1), m), {});
    console.log(`failover: ${sent} commands per client; failed: ours ${errors.ours.length} ${JSON.stringify(kinds(errors.ours))}, plain ioredis ${errors.ioredis.length} ${JSON.stringify(kinds(errors.ioredis))} ${JSON.stringify([...new Set([...errors.ours, ...errors.ioredis])].slice(0, 6))}`);
    expect(errors.ours).toEqual([]);
    // Every key readable on the new masters.
    expect((await Promise.all(tags.map((t) => redis.hget(`${t}:h`, "n")))).every((v) => Number(v) > 0)).toBe(true);
  }, 180_000);
});
