import { afterAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { ERR, ReplicaCatalog, type SiteConfig } from "../../schemas/index.ts";
import { ReplicaCatalogStore } from "../../matchmaker/replica-catalog.ts";
import { SiteRegistry } from "../../matchmaker/site-registry.ts";
import { testConfig } from "../support/namespace.ts";
import { openRedisAs } from "../support/live-services.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";

// The intake's view: it publishes the sites and reads the catalog to place jobs.
const loaded = testConfig("replica");
const { names } = loaded;
const redis = openRedisAs(loaded, "intake");
const catalog = new ReplicaCatalogStore(redis, names);

afterAll(async () => {
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
});

const file = (lfn: string, size = 10) => ({ lfn, size, adler32: "0a0b0c0d", md5: "f".repeat(32) });

describe("replica catalog", () => {
  it("records files with their checksums and the sites holding each", async () => {
    await catalog.addFiles("mc.evgen", [file("mc/b.root", 2), file("mc/a.root", 1)], ["CERN", "BNL"]);
    await catalog.addFiles("mc.evgen", [file("mc/c.root", 3)], ["CERN"]);
    await catalog.addReplica("mc.evgen", "mc/c.root", "TRIUMF");
    expect(await catalog.listDataset("mc.evgen")).toEqual([
      { ...file("mc/a.root", 1), sites: ["BNL", "CERN"] },
      { ...file("mc/b.root", 2), sites: ["BNL", "CERN"] },
      { ...file("mc/c.root", 3), sites: ["CERN", "TRIUMF"] },
    ]);
    expect(await catalog.datasets()).toEqual(["mc.evgen"]);
    expect(await catalog.listDataset("no.such")).toBeUndefined();
  });

  it("answers which sites hold which files, empty for files held nowhere", async () => {
    const held = await catalog.sitesHolding("mc.evgen", ["mc/a.root", "mc/c.root", "mc/zzz.root"]);
    expect(Object.fromEntries(held)).toEqual({ "mc/a.root": ["BNL", "CERN"], "mc/c.root": ["CERN", "TRIUMF"], "mc/zzz.root": [] });
  });

  it("asks Redis once per holding site however many files it is asked about", async () => {
    const lfns = Array.from({ length: 3000 }, (_, i) => `big/f${i}`);
    await catalog.addFiles("big", lfns.map((l) => file(l)), ["S1", "S2"]);
    // Counted where the catalog sends them (its own connection), not with MONITOR: an admin command
    // no service's Redis user may run.
    // A single server in tests: its client is ioredis's Redis.
    const counted = redis.duplicate() as Redis;
    await counted.ping(); // connected (and authenticated) before counting starts
    const send = counted.sendCommand.bind(counted);
    let commands = 0;
    counted.sendCommand = (command, stream) => {
      if (command.args.some((a) => String(a).includes(names.namespace))) commands++;
      return send(command, stream);
    };
    const held = await new ReplicaCatalogStore(counted, names).sitesHolding("big", lfns);
    counted.disconnect();
    expect(held.get("big/f2999")).toEqual(["S1", "S2"]);
    // SMEMBERS of the holders, then one SMISMEMBER per holding site (S1, S2).
    expect(commands).toBe(3);
  });

  it("refuses a file re-registered with other checksums, and writes nothing of that call", async () => {
    await expect(catalog.addFiles("mc.evgen", [file("mc/new.root"), { ...file("mc/a.root", 1), md5: "0".repeat(32) }], ["X"])).rejects.toMatchObject({ code: ERR.BAD_INPUT });
    expect((await catalog.listDataset("mc.evgen"))?.map((f) => f.lfn)).toEqual(["mc/a.root", "mc/b.root", "mc/c.root"]);
    await catalog.addFiles("mc.evgen", [file("mc/a.root", 1)], ["X"]);
    expect((await catalog.sitesHolding("mc.evgen", ["mc/a.root"])).get("mc/a.root")).toEqual(["BNL", "CERN", "X"]);
  });

  it("refuses a replica of a file it does not know", async () => {
    await expect(catalog.addReplica("mc.evgen", "mc/nope.root", "CERN")).rejects.toMatchObject({ code: ERR.NOT_FOUND });
  });

  it("forgets a replica a site lost", async () => {
    await catalog.removeReplica("mc.evgen", "mc/c.root", "TRIUMF");
    expect((await catalog.sitesHolding("mc.evgen", ["mc/c.root"])).get("mc/c.root")).toEqual(["CERN"]);
  });

  it("bulk-loads a catalog file and counts files held per site", async () => {
    const doc = ReplicaCatalog.parse({
      schemaVersion: 1,
      datasets: [
        { name: "data.raw", files: [{ ...file("raw/1"), sites: ["CERN"] }, { ...file("raw/2"), sites: ["CERN", "BNL"] }, { ...file("raw/3") }] },
        { name: "empty.ds", files: [] },
      ],
    });
    expect(await catalog.load(doc)).toEqual({ datasets: 2, files: 3, replicas: 3 });
    expect(await catalog.listDataset("data.raw")).toEqual([
      { ...file("raw/1"), sites: ["CERN"] },
      { ...file("raw/2"), sites: ["BNL", "CERN"] },
      { ...file("raw/3"), sites: [] },
    ]);
    expect(await catalog.listDataset("empty.ds")).toEqual([]);
    // CERN: mc a, b, c (3) + raw 1, 2 (2); big is only at S1/S2.
    expect(await catalog.filesHeld("CERN")).toBe(5);
    expect(await catalog.filesHeld("S1")).toBe(3000);
  });

  it("refuses a catalog file with a bad checksum before anything is written", () => {
    expect(ReplicaCatalog.problems({ schemaVersion: 1, datasets: [{ name: "d", files: [{ lfn: "x", size: 1, adler32: "XYZ", md5: "f".repeat(32) }] }] })).toMatch(/adler32/);
  });
});

describe("site registry", () => {
  const registry = new SiteRegistry(redis, names);
  const sites = (online: boolean): SiteConfig => ({
    schemaVersion: 1,
    sites: [
      { name: "CERN", storagePath: "/s/cern", online: true, identitySwitch: "off", capacity: 200, softwareTags: [], authz: [], mapping: [] },
      { name: "BNL", storagePath: "/s/bnl", online, identitySwitch: "off", capacity: 100, softwareTags: [], authz: [], mapping: [] },
    ],
  });

  it("publishes the site config so every process sees the same sites", async () => {
    await registry.publish(sites(true));
    expect((await registry.list()).map((s) => [s.name, s.online, s.capacity])).toEqual([["BNL", true, 100], ["CERN", true, 200]]);
  });

  it("replaces the published sites on a new publish and takes a site offline", async () => {
    await registry.publish(sites(false));
    expect((await registry.get("BNL"))?.online).toBe(false);
    await registry.setOnline("BNL", true);
    expect((await registry.get("BNL"))?.online).toBe(true);
    await expect(registry.setOnline("NOWHERE", true)).rejects.toMatchObject({ code: ERR.NOT_FOUND });
  });
});
