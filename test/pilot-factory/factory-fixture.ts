// What the factory tests share: a queue with every knob spelled out, a token store that remembers
// what it minted (the real PilotTokenStore underneath), the runtime a test factory starts pilots
// with, and polling for what arrives over NATS.
import { fileURLToPath } from "node:url";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { LoadedConfig } from "../../platform/config.ts";
import { startFactory, type FactoryOptions, type PilotCommandBuilder, type PilotLaunch, type PilotRuntime, type PilotTokenMinter, type RunningFactory } from "../../pilot-factory/index.ts";
import { PilotCensus, SCHEMA_VERSION, type FactoryQueue, type WireNames } from "../../schemas/index.ts";
import { censusProof, PilotTokenStore } from "../../security/index.ts";
import type { NatsConnection } from "nats";
import { roleIdentityFile } from "../support/test-roles.ts";

export function queueKnobs(overrides: Partial<FactoryQueue> = {}): FactoryQueue {
  return {
    name: "q1",
    site: "SITE_A",
    adapter: "local",
    targetIdle: 0,
    maxPending: 100,
    maxRunning: 100,
    maxPerCycle: 100,
    pilotsPerMinute: 6000,
    cycleSec: 1,
    pilotLifetimeSec: 600,
    tokenUses: 3,
    emptyAdvertsLimit: 3,
    ...overrides,
  };
}

export class RecordingTokens implements PilotTokenMinter {
  readonly minted: Array<{ token: string; site: string; pilotId: string; uses: number; ttlSec: number }> = [];
  readonly store: PilotTokenStore;

  constructor(redis: RedisClient, names: WireNames) {
    this.store = new PilotTokenStore(redis, names);
  }

  async mint(o: { site: string; factoryId: string; pilotId: string; uses: number; ttlSec: number }): Promise<string> {
    const token = await this.store.mint(o);
    this.minted.push({ token, site: o.site, pilotId: o.pilotId, uses: o.uses, ttlSec: o.ttlSec });
    return token;
  }

  censusProof(token: string, pilotId: string): string {
    return this.store.censusProof(token, pilotId);
  }

  proofHash(proof: string): string {
    return this.store.proofHash(proof);
  }
}

/** The token each pilot a test factory started was given, by pilot id: what its census is proved with. */
const launchedTokens = new Map<string, string>();

/** Keeps a launched pilot's token, as the pilot itself would hold it; every builder here calls it. */
export function rememberLaunch(launch: PilotLaunch): void {
  launchedTokens.set(launch.pilotId, launch.token);
}

/** The token the factory started `pilotId` with (throws for a pilot no builder here launched). */
export function launchedToken(pilotId: string): string {
  const token = launchedTokens.get(pilotId);
  if (token === undefined) throw new Error(`no pilot ${pilotId} was launched through the fixture's builders`);
  return token;
}

export function testRuntime(loaded: LoadedConfig): PilotRuntime {
  return {
    nodePath: process.execPath,
    wmsBin: fileURLToPath(new URL("../../bin/wms.mjs", import.meta.url)),
    namespace: loaded.names.namespace,
    serviceUrls: { nats: loaded.config.nats.url, redis: loaded.config.redis.url, rabbitmq: loaded.config.rabbitmq.url },
    // Pilots run as the pilot role, never as the factory (authenticated test services only).
    ...(roleIdentityFile("pilot") ? { identityFile: roleIdentityFile("pilot") } : {}),
  };
}

/**
 * A factory as most tests start one: the queues given, `waiting` jobs, tokens recorded, silent
 * pilots, cycles run by the test (cycleOnce); `more` replaces any of it.
 */
export function startTestFactory(
  on: { readonly loaded: LoadedConfig; readonly nc: NatsConnection; readonly redis: RedisClient; readonly workDir: string },
  factoryId: string,
  queues: readonly FactoryQueue[],
  waiting: number,
  more: Partial<FactoryOptions> = {},
): Promise<RunningFactory> {
  return startFactory({
    config: { schemaVersion: SCHEMA_VERSION, factoryId, queues: [...queues] },
    nc: on.nc,
    redis: on.redis,
    names: on.loaded.names,
    tokens: new RecordingTokens(on.redis, on.loaded.names),
    waitingJobs: async () => waiting,
    runtime: testRuntime(on.loaded),
    workDir: on.workDir,
    pilotCommand: silentPilot,
    autoCycle: false,
    ...more,
  });
}

/** A pilot that exits at once and never reports: it stays pending in the census, as a pilot still queued in a batch system would. */
export const silentPilot: PilotCommandBuilder = (launch, runtime) => {
  rememberLaunch(launch);
  return { command: "/bin/true", args: [launch.pilotId], env: { WMS_PILOT_TOKEN: launch.token, WMS_NAMESPACE: runtime.namespace } };
};

const encoder = new TextEncoder();

/**
 * Publishes a census message as the pilot would (on authenticated servers only pilots may: pass the
 * pilots' connection), with the proof of the token it was launched with when a builder here launched it.
 */
export function publishCensus(nc: NatsConnection, names: WireNames, pilotId: string, state: PilotCensus["state"], extra: Partial<PilotCensus> = {}): void {
  const token = launchedTokens.get(pilotId);
  const proof = token !== undefined ? { proof: censusProof(token, pilotId) } : {};
  const msg = PilotCensus.parse({ schemaVersion: SCHEMA_VERSION, pilotId, site: "SITE_A", state, jobsDone: 0, emptyAdverts: 0, at: Date.now(), ...proof, ...extra });
  nc.publish(names.subjects.pilotCensus, encoder.encode(JSON.stringify(msg)));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
