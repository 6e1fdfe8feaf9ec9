// The matchmaker bench's simulated pilots, in their own process: the orchestrator holds 100,000 job
// specs while it queues them, and its garbage collection paused the adverts' clock by up to 20 ms,
// which then showed up as matchmaker latency. Here the heap is small and holds only the pilots.
// Driven over the fork IPC channel by bench/suites/matchmaker.ts, one command at a time.
import type { NatsConnection } from "nats";
import { loadConfig } from "../platform/config.ts";
import { openNats, openRedis } from "../platform/connections.ts";
import { DispatchQueues } from "../jobs/index.ts";
import { EnvelopeBody, MatchReply, type WireNames } from "../schemas/index.ts";
import { carriedSigner, signerRef } from "../security/index.ts";

export interface SwarmPilot {
  readonly site: string;
  /** The advert, ready to send (JSON). */
  readonly text: string;
}

export type SwarmCommand =
  | { readonly op: "init"; readonly namespace: string; readonly pilots: readonly SwarmPilot[] }
  /** `rounds` adverts from every pilot at once (or one advert from the first pilot when `single`). */
  | { readonly op: "rounds"; readonly rounds: number; readonly checked: boolean; readonly single?: boolean }
  /** Closed loop: every pilot asks again as soon as it is answered, for `ms`. */
  | { readonly op: "closed"; readonly ms: number }
  /** Open loop: adverts on a fixed schedule at `rate` per second for `ms`, whatever the replies do. */
  | { readonly op: "open"; readonly rate: number; readonly ms: number }
  | { readonly op: "stop" };

export type SwarmResult =
  | { readonly ok: true; readonly matches: number; readonly elapsedMs: number; readonly latenciesMs?: number[]; readonly maxSendLagMs?: number }
  | { readonly ok: false; readonly error: string };

// nats.js settles every finished request by rejecting an internal promise with a fresh NatsError,
// whose stack capture was 4% of this process's CPU: load-generator cost that competed for the two
// cores with what is measured. The swarm's own errors travel as messages, so stacks are not needed.
Error.stackTraceLimit = 0;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Swarm {
  nc: NatsConnection;
  names: WireNames;
  dq: DispatchQueues;
  pilots: readonly SwarmPilot[];
  /** The matchmaker's signer pair id, from the first full envelope of the checked warm-up. */
  knownSigner?: string;
  close(): Promise<void>;
}

/**
 * One advert, and the job handed back as a pilot would after running it. Returns latency in ms, or
 * -1 on no match. In the timed loops a pilot reads only what it needs from the reply; `checked`
 * validates every reply against its schemas (the warm-up uses it, so a malformed reply fails the bench).
 */
async function advertOnce(s: Swarm, p: SwarmPilot, checked: boolean): Promise<number> {
  const t0 = performance.now();
  const data = (await s.nc.request(s.names.subjects.advert, encoder.encode(p.text), { timeout: 30_000 })).data;
  const ms = performance.now() - t0;
  const r = checked ? MatchReply.parseJson(data) : (JSON.parse(decoder.decode(data)) as MatchReply);
  if (r.status === "error") throw new Error(`advert refused: E${r.code} ${r.message}`);
  if (r.status !== "match") return -1;
  const body = checked ? EnvelopeBody.parseJson(r.envelope.body) : (JSON.parse(r.envelope.body) as EnvelopeBody);
  const carried = checked ? carriedSigner(r.envelope) : undefined;
  if (carried) s.knownSigner ??= signerRef(carried);
  await s.dq.complete(body.job.jobId, body.lockToken);
  return ms;
}

async function init(namespace: string, pilots: readonly SwarmPilot[]): Promise<Swarm> {
  const { config, names } = loadConfig({ overrides: { namespace } });
  const nc = await openNats(config, "bench-pilots");
  const redis = openRedis(config);
  // Completions go through the auto-pipelined connection, as the matchmaker's claims do.
  const dq = new DispatchQueues({ redis, names, lockMs: 600_000, stalledIntervalMs: 600_000 });
  return {
    nc,
    names,
    dq,
    pilots,
    async close() {
      await dq.close();
      await nc.close();
      redis.disconnect();
    },
  };
}

async function run(s: Swarm, cmd: Exclude<SwarmCommand, { op: "init" } | { op: "stop" }>): Promise<SwarmResult> {
  const t0 = performance.now();
  let matches = 0;
  if (cmd.op === "rounds") {
    const who = cmd.single ? s.pilots.slice(0, 1) : s.pilots;
    for (let i = 0; i < cmd.rounds; i++) {
      const got = await Promise.all(who.map((p) => advertOnce(s, p, cmd.checked)));
      matches += got.filter((ms) => ms >= 0).length;
    }
    // From now on the pilots advertise the signer pair they hold, as real multi-job pilots do (a
    // real pilot verifies the pair first; the matchmaker's work is the same either way).
    const known = s.knownSigner;
    if (known !== undefined) s.pilots = s.pilots.map((p) => ({ site: p.site, text: JSON.stringify({ ...(JSON.parse(p.text) as object), knownSigner: known }) }));
    return { ok: true, matches, elapsedMs: performance.now() - t0 };
  }
  if (cmd.op === "closed") {
    const end = t0 + cmd.ms;
    await Promise.all(
      s.pilots.map(async (p) => {
        while (performance.now() < end) if ((await advertOnce(s, p, false)) >= 0) matches++;
      }),
    );
    return { ok: true, matches, elapsedMs: performance.now() - t0 };
  }
  const latenciesMs: number[] = [];
  const inflight: Array<Promise<void>> = [];
  let maxSendLagMs = 0;
  for (let i = 0; performance.now() - t0 < cmd.ms; i++) {
    const due = t0 + (i * 1000) / cmd.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // How late this advert left: a busy load generator would otherwise pass for a slow matchmaker.
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - due);
    inflight.push(advertOnce(s, s.pilots[i % s.pilots.length], false).then((ms) => void (ms >= 0 && latenciesMs.push(ms))));
  }
  await Promise.all(inflight);
  return { ok: true, matches: latenciesMs.length, elapsedMs: performance.now() - t0, latenciesMs, maxSendLagMs };
}

let swarm: Swarm | undefined;
const reply = (r: SwarmResult): void => void process.send?.(r);

process.on("message", (cmd: SwarmCommand) => {
  void (async () => {
    try {
      if (cmd.op === "init") {
        swarm = await init(cmd.namespace, cmd.pilots);
        reply({ ok: true, matches: 0, elapsedMs: 0 });
      } else if (cmd.op === "stop") {
        await swarm?.close();
        reply({ ok: true, matches: 0, elapsedMs: 0 });
        process.exit(0);
      } else if (!swarm) {
        reply({ ok: false, error: "the swarm was not initialised" });
      } else {
        reply(await run(swarm, cmd));
      }
    } catch (e) {
      reply({ ok: false, error: (e as Error).message });
    }
  })();
});
