// Every Lua script outside jobs/ (whose scripts test/jobs/script-slots.unit.test.ts checks) touches one
// Redis Cluster hash slot: the KEYS each store passes share one hash tag, and the script reaches keys
// only through KEYS (or a local taken from KEYS), never a name built in Lua. A new script in a file
// this test does not know fails the first test, so its keys get checked too.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { usageAddKeys, usageShard } from "../../agents/accounting/index.ts";
import { credentialKey, delegationsBegunKey } from "../../agents/credentials/index.ts";
import { cappedListPushKeys, seenKeyIn } from "../../agents/reports/index.ts";
import { censusTransitionKeys } from "../../pilot-factory/index.ts";
import { factoryKeys } from "../../pilot-factory/factory-keys.ts";
import { slotTag } from "../../platform/redis-script.ts";
import { accountingReport } from "../reports/support/report-factory.ts";
import { wireNames } from "../../schemas/index.ts";
import { oneTimeKeyConsumeKeys, oneTimeKeyKey, pilotTokenKey } from "../../security/index.ts";
import { poolKey } from "../../site-authz/index.ts";

const ROOT = new URL("../../", import.meta.url);
const names = wireNames("slots");
const HASH = "ab".repeat(32);
const record = accountingReport({ userDn: "/DC=org/CN=Ann", group: "phys", vo: "atlas", site: "SITE_A" });
const groupless = accountingReport({ userDn: "/DC=org/CN=Bob", group: "", vo: "atlas", site: "SITE_B" });
const fk = factoryKeys(names, "factory-1");

/** Per source file, its scripts and the KEYS their callers pass (every form a caller builds). */
const SCRIPTS: Record<string, Record<string, ReadonlyArray<readonly string[]>>> = {
  "security/pilot-token-store.ts": { CONSUME: [[pilotTokenKey(names, "SITE_A", HASH)]] },
  "security/one-time-key-store.ts": {
    CONSUME: [oneTimeKeyConsumeKeys(names, "SITE_A", HASH)],
    RENEW: [[oneTimeKeyKey(names, "SITE_A", HASH)]],
  },
  "agents/accounting/usage-store.ts": {
    // As the accounting agent calls it: the seen key in the record's user's bucket.
    ADD_LUA: [usageAddKeys(names, record), usageAddKeys(names, groupless), usageAddKeys(names, record, seenKeyIn(names, "accounting", record.reportId, usageShard(names, record.userDn)))],
  },
  "agents/reports/capped-report-list.ts": {
    // As the audit and error consumers call it: the seen key in the report's bucket (CappedReportList.shardOf).
    PUSH_LUA: [cappedListPushKeys(names, "audit", "r-1"), cappedListPushKeys(names, "error-log", "r-2", seenKeyIn(names, "error-log", "r-2", `{${slotTag(cappedListPushKeys(names, "error-log", "r-2")[0])}}`))],
  },
  "pilot-factory/pilot-census-store.ts": {
    CENSUS_TRANSITION_LUA: [censusTransitionKeys(fk, fk.queue("q1"), "pilot-1")],
    recordBatchIds: [[fk.pilot("pilot-1")]],
  },
  "agents/credentials/credential-records.ts": { RESEAL_LUA: [[credentialKey(names, "/DC=org/CN=Ann")]] },
  "agents/credentials/credential-cache.ts": { BEGIN_DELEGATION: [[delegationsBegunKey(names, "/DC=org/CN=Ann")]] },
  "pilot-factory/factory-lease.ts": { RENEW_LUA: [[fk.lease]], RELEASE_LUA: [[fk.lease]] },
  "site-authz/pool-lease.ts": { "lease-pool-account.lua": [[poolKey(names, "SITE_A")]], "release-pool-account.lua": [[poolKey(names, "SITE_A")]] },
};

/** Source files (not tests, benches or jobs/) that define or run a Lua script. */
function filesWithScripts(): string[] {
  const files = execFileSync("git", ["ls-files", "*.ts"], { cwd: ROOT, encoding: "utf8" }).split("\n");
  return files
    .filter((f) => f !== "" && !/^(test|bench|jobs|node_modules)\//.test(f) && f !== "platform/redis-script.ts")
    .filter((f) => /\bredisScript\(|batchedRedisScript\(|\.eval(sha)?\(/.test(readFileSync(new URL(f, ROOT), "utf8")))
    .sort();
}

/** The Lua text a file holds: its template literals with redis.call in them, and the .lua files it reads. */
function luaOf(file: string): string {
  const src = readFileSync(new URL(file, ROOT), "utf8");
  const inline = [...src.matchAll(/`([^`]*redis\.call[^`]*)`/g), ...src.matchAll(/"([^"]*redis\.call[^"]*)"/g)].map((m) => m[1]);
  const dir = file.slice(0, file.lastIndexOf("/") + 1);
  const files = [...src.matchAll(/"\.\/(lua\/[\w-]+\.lua)"/g)].map((m) => readFileSync(new URL(dir + m[1], ROOT), "utf8"));
  const imported = [...src.matchAll(/from "\.\/([\w-]+-script\.ts)"/g)].map((m) => luaOf(dir + m[1]));
  return [...inline, ...files, ...imported].join("\n");
}

describe("Lua scripts outside jobs/ and Redis Cluster hash slots", () => {
  it("knows every file that defines or runs a script", () => {
    expect(filesWithScripts()).toEqual(Object.keys(SCRIPTS).sort());
  });

  for (const [file, scripts] of Object.entries(SCRIPTS)) {
    for (const [script, calls] of Object.entries(scripts)) {
      it(`${file} ${script}: the keys of each call share one hash tag`, () => {
        for (const keys of calls) {
          expect(keys.length).toBeGreaterThan(0);
          expect(new Set(keys.map(slotTag)).size, keys.join(" ")).toBe(1);
          for (const k of keys) expect(k.startsWith(names.redisPrefix), k).toBe(true);
        }
      });
    }

    it(`${file}: its Lua reaches keys only through KEYS`, () => {
      const lua = luaOf(file);
      expect(lua).toMatch(/redis\.call/);
      const fromKeys = new Set([...lua.matchAll(/local (\w+) = KEYS\[/g)].map((m) => m[1]));
      for (const m of lua.matchAll(/redis\.call\('(\w+)'(?:,\s*([^,)]+))?/g)) {
        if (m[1] === "TIME") continue;
        const first = (m[2] ?? "").trim();
        expect(/^KEYS\[[^\]]+\]$/.test(first) || fromKeys.has(first), `${file}: ${m[0]}`).toBe(true);
      }
    });
  }

  it("shards by site, by user bucket and by list bucket, each tag under the namespace", () => {
    expect(slotTag(pilotTokenKey(names, "SITE_A", HASH))).toBe("slots:s:SITE_A");
    expect(slotTag(oneTimeKeyKey(names, "SITE_B", HASH))).toBe("slots:s:SITE_B");
    expect(slotTag(usageAddKeys(names, record)[1])).toMatch(/^slots:a:\d+$/);
    expect(slotTag(cappedListPushKeys(names, "audit", "r-1")[0])).toMatch(/^slots:l:audit\.\d$/);
  });
});
