// `wms down --purge` on a deployment that used services as they are (not private ones): the
// deployment's keys, queues and exchanges go, another namespace's (even one whose name starts with
// this one's) stay; without a terminal it needs --yes, and without it nothing is deleted.
// With authentication on, the services are the test run's, set up with the users of its `wms
// secrets init` folder, which the deployment holds as its own (.wms/secrets); the purge runs as
// the roles that made the data.
import { cpSync } from "node:fs";
import path from "node:path";
import type { Channel } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { declareTopology, deleteTopology } from "../../agents/reports/index.ts";
import { loadConfig, type LoadedConfig } from "../../platform/config.ts";
import { openRabbit, openRedis } from "../../platform/connections.ts";
import { wireNames, type WireNames } from "../../schemas/index.ts";
import { deploymentFolder } from "../support/deployment-folder.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { asRole, testAuth } from "../support/test-roles.ts";

const grid = deploymentFolder("purge");
const { dir, wms } = grid;
let loaded: LoadedConfig;
let other: WireNames;

interface Purged {
  stopped: boolean;
  purged: {
    namespace: string;
    redis: { keysDeleted: number };
    rabbitmq: { queues: { deleted: string[]; absent: string[]; messagesDropped: number }; exchanges: { deleted: string[]; absent: string[] } };
    skipped: Array<{ service: string }>;
  };
}

function keysOf(ns: string): string[] {
  return [`${ns}:purge:plain`, `${ns}:{${ns}:site:SITE_A}:queue`, `{${ns}}:bull-like`];
}

async function withChannel<T>(as: LoadedConfig, f: (ch: Channel) => Promise<T>): Promise<T> {
  const conn = await openRabbit(as.config);
  // A passive declare of something missing closes its channel with an error event: expected here.
  conn.on("error", () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    return await f(ch);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Whether each queue exists (a passive declare per queue; a missing one closes its channel). */
async function queuesExist(names: WireNames): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const q of Object.values(names.rabbit.queues)) {
    out.push(await withChannel(asRole(loaded, "agents"), (ch) => ch.checkQueue(q).then(() => true, () => false)));
  }
  return out;
}

async function existing(keys: string[]): Promise<number> {
  const redis = openRedis(asRole(loaded, "matchmaker").config);
  try {
    let n = 0;
    for (const k of keys) n += await redis.exists(k);
    return n;
  } finally {
    redis.disconnect();
  }
}

beforeAll(async () => {
  grid.init({ matchmakers: 1 });
  const runSecrets = process.env.WMS_TEST_SECRETS;
  if (testAuth() && runSecrets) cpSync(runSecrets, path.join(dir, ".wms", "secrets"), { recursive: true });
  loaded = loadConfig({ path: path.join(dir, "wms.yaml"), env: {} });
  // A neighbour whose name begins with this deployment's: a prefix match too wide would take it.
  other = wireNames(`${loaded.names.namespace}x`);
  const redis = openRedis(asRole(loaded, "matchmaker").config);
  for (const k of [...keysOf(loaded.names.namespace), ...keysOf(other.namespace)]) await redis.set(k, "1");
  redis.disconnect();
  await withChannel(asRole(loaded, "agents"), async (ch) => {
    await declareTopology(ch, loaded.names);
    await declareTopology(ch, other);
  });
}, 120_000);

afterAll(async () => {
  const redis = openRedis(asRole(loaded, "matchmaker").config);
  await deleteNamespaceKeys(redis, other.namespace);
  redis.disconnect();
  await withChannel(asRole(loaded, "agents"), (ch) => deleteTopology(ch, other)).catch(() => undefined);
  await grid.cleanup();
});

describe("wms down --purge", () => {
  it("says what --purge and --yes do in --help", async () => {
    const r = await wms(["down", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--purge\s+also delete this deployment's data/);
    expect(r.stdout).toMatch(/-y, --yes\s+with --purge: do not ask/);
  });

  it("without a terminal and without --yes deletes nothing and says how to confirm, in one line", async () => {
    const r = await wms(["down", "--purge"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^wms: error E1008 USAGE: .*every key of namespace ${loaded.names.namespace} on .*confirm with --yes \\(nothing was stopped or deleted\\)\\n$`));
    expect(await existing(keysOf(loaded.names.namespace))).toBe(3);
    expect(await queuesExist(loaded.names)).not.toContain(false);
  });

  // Several CLI processes: 10 s of the default 30 s in a loaded fresh-clone CI run.
  it("deletes this namespace's keys, queues and exchanges and nothing of a neighbouring namespace", async () => {
    const r = await wms(["down", "--purge", "--yes", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Purged;
    expect(out.stopped).toBe(false);
    expect(out.purged.namespace).toBe(loaded.names.namespace);
    expect(out.purged.redis.keysDeleted).toBe(3);
    const queues = Object.values(loaded.names.rabbit.queues).sort();
    const exchanges = [loaded.names.rabbit.reportsExchange, loaded.names.rabbit.deadLetterExchange].sort();
    expect(out.purged.rabbitmq.queues).toMatchObject({ absent: [], messagesDropped: 0 });
    expect([...out.purged.rabbitmq.queues.deleted].sort()).toEqual(queues);
    expect(out.purged.rabbitmq.exchanges).toMatchObject({ absent: [] });
    expect([...out.purged.rabbitmq.exchanges.deleted].sort()).toEqual(exchanges);
    expect(out.purged.skipped.map((s) => s.service)).toEqual(["nats"]);
    expect(await existing(keysOf(loaded.names.namespace))).toBe(0);
    expect(await queuesExist(loaded.names)).toEqual(Object.values(loaded.names.rabbit.queues).map(() => false));
    expect(await withChannel(asRole(loaded, "agents"), (ch) => ch.checkExchange(loaded.names.rabbit.reportsExchange).then(() => true, () => false))).toBe(false);
    // The neighbour is whole.
    expect(await existing(keysOf(other.namespace))).toBe(3);
    expect(await queuesExist(other)).toEqual(Object.values(other.rabbit.queues).map(() => true));
    // Again: nothing left to delete, and it says so: every name is reported absent, none deleted.
    const again = await wms(["down", "--purge", "--yes"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^nothing runs for .*\\npurged namespace ${loaded.names.namespace} on .*: 0 key\\(s\\)\\n`));
    expect(again.stdout).toContain(`: 0 queue(s) (0 message(s) in them), 0 exchange(s); ${queues.length + exchanges.length} already absent\n`);
    const json = await wms(["down", "--purge", "--yes", "--json"]);
    const twice = (JSON.parse(json.stdout) as Purged).purged.rabbitmq;
    expect(twice.queues.deleted).toEqual([]);
    expect([...twice.queues.absent].sort()).toEqual(queues);
    expect(twice.exchanges.deleted).toEqual([]);
    expect([...twice.exchanges.absent].sort()).toEqual(exchanges);
  }, 90_000);
});
