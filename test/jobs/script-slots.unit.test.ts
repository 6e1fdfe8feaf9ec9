// Every jobs/ Lua script touches one Redis Cluster hash slot: it names every key it touches in KEYS
// (none built inside Lua from ARGV), declares its fixed KEYS in its file name, and the keys each of
// its callers passes share one hash tag (a site shard or a task shard). The exceptions, claim-move-5
// and use-claim-move-6 (a claim and its record's move in one step), are run on a single server only.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { hashTag, jobKeys } from "../../jobs/index.ts";
import { loadLua } from "../../jobs/job-scripts.ts";
import { wireNames } from "../../schemas/index.ts";
import { pilotTokenKey } from "../../security/index.ts";

const DIR = new URL("../../jobs/scripts/", import.meta.url);
const scripts = readdirSync(DIR)
  .filter((f) => /-\d+\.lua$/.test(f))
  .map((f) => f.slice(0, -".lua".length));

const names = wireNames("slots");
const k = jobKeys(names);
const site = k.site("SITE_A");
const task = k.task("T-1");
const job = "T-1.000007";
const AC = "0123456789abcdef";
const AC2 = "fedcba9876543210";
// The pilot token a claim uses in its own step: its record is in the shard of the advert's site.
const TOKEN = pilotTokenKey(names, "SITE_A", "ab".repeat(32));

/** The KEYS each script is called with (jobs/job-store.ts, jobs/dispatch-queues.ts), widest form. */
const CALLS: Record<string, readonly string[]> = {
  "claim-5": [site.lease, site.held, site.live, site.n, site.states, site.ready(AC), site.ready(AC2)],
  "claim-move-5": [site.lease, site.held, site.live, site.n, site.states, site.ready(AC), site.ready(AC2)],
  "use-claim-6": [TOKEN, site.lease, site.held, site.live, site.n, site.states, site.ready(AC), site.ready(AC2)],
  "use-claim-move-6": [TOKEN, site.lease, site.held, site.live, site.n, site.states, site.ready(AC), site.ready(AC2)],
  "bind-seal-1": [task.job(job)],
  "enqueue-5": [site.ready(AC), site.live, site.n, site.held, site.acs],
  "requeue-6": [site.ready(AC), site.live, site.n, site.lease, site.held, site.states],
  "release-3": [site.lease, site.held, site.states],
  "renew-2": [site.lease, site.held],
  "expired-2": [site.lease, site.held],
  "remove-3": [site.ready(AC), site.live, site.n],
  "effects-3": [site.states, site.holding, site.errors],
  "shapes-2": [site.acs, site.live],
  "lead-1": [site.checker],
  "check-lead-3": [site.checker, site.lease, site.checked],
  "transition-6": [task.job(job), task.task, task.states, task.errors, task.attempts(job), task.tpl],
  "fence-2": [task.job(job), task.attempts(job)],
  "started-1": [task.job(job)],
  "tally-1": [task.task, task.job(job), task.job("T-1.000008")],
  "grow-5": [task.task, task.states, task.errors, task.jobs, task.consumed, task.job(job), task.job("T-1.000008")],
};

describe("jobs/ Lua scripts and hash slots", () => {
  it("knows the keys of every script file", () => {
    expect(scripts.sort()).toEqual(Object.keys(CALLS).sort());
  });

  for (const name of scripts) {
    it(`${name}: its keys share one hash tag and it builds no key of its own`, () => {
      const keys = CALLS[name];
      expect(keys.length).toBeGreaterThanOrEqual(Number(/-(\d+)$/.exec(name)![1]));
      expect(new Set(keys.map(hashTag)).size).toBe(1);
      expect(hashTag(keys[0])).toMatch(/^slots:[st]:/);
      // As loaded: the scripts it includes (claim, transition, fence) are checked where they are used.
      const lua = loadLua(name);
      // The first argument after the command is the key: always KEYS[...] (or the key parameter of
      // an included helper, fence.lua's jobKey, rollup.lua's taskKey and statesKey), never a built string.
      for (const m of lua.matchAll(/redis\.call\('(\w+)',\s*([^,)]+)/g)) {
        expect(m[2], `${name}: ${m[0]}`).toMatch(/^KEYS\[[^\]]+\]$|^jobKey$|^taskKey$|^statesKey$/);
      }
    });
  }

  it("builds task-shard keys inside a script only in claim-move-5 and use-claim-move-6, which say they are for a single server", () => {
    const oneServer = ["claim-move-5", "use-claim-move-6"];
    for (const name of scripts) expect(/\bfill\(/.test(loadLua(name)), name).toBe(oneServer.includes(name));
    for (const name of oneServer) expect(readFileSync(new URL(`${name}.lua`, DIR), "utf8")).toMatch(/for a single Redis server only/i);
  });

  it("puts a site's keys and a task's keys in their own shards, apart from the namespace-wide ones", () => {
    expect(hashTag(site.lease)).toBe("slots:s:SITE_A");
    expect(hashTag(task.job(job))).toBe("slots:t:T-1");
    expect(hashTag(k.site("SITE_B").lease)).not.toBe(hashTag(site.lease));
    for (const key of [site.lease, task.job(job), k.sites, k.tasks]) expect(key.startsWith("slots:")).toBe(true);
  });
});
